//! A compose file in a project folder, read the way `docker compose up`
//! reads it: the files it references by relative path (bind-mounted config
//! files and folders, `env_file`s, secret and config files, build contexts
//! less what their `.dockerignore` leaves out) are collected, to be sent
//! with it into the app's folder on the server.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use appos_proto::desktop::LocalProject;
use appos_proto::{AppFile, MAX_APP_FILES, MAX_APP_FILES_BYTES, MAX_APP_FILE_BYTES};
use base64::Engine as _;
use serde_yaml_ng::Value;

use crate::dockerignore::DockerIgnore;

/// Why a project folder cannot be sent; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProjectError(pub String);

/// What a reference points at, and how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A bind mount: sent when it exists (the compose tool creates a missing folder).
    Bind,
    /// A file the compose tool reads: it must exist.
    File,
    /// A build context: a folder that must exist, less its `.dockerignore`.
    Context,
}

/// A relative path the compose file names, and the field that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ref {
    field: String,
    path: String,
    kind: Kind,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn relative(p: &str) -> bool {
    !p.starts_with('/') && !p.starts_with('~') && !p.contains('$') && !p.contains("://")
}

/// Every relative path a compose file names (merge keys applied).
fn refs(doc: &Value) -> Vec<Ref> {
    let mut out = Vec::new();
    let mut push = |field: String, path: String, kind: Kind| {
        if relative(&path) {
            out.push(Ref { field, path, kind });
        }
    };
    for (name, svc) in doc
        .get("services")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or_default();
        for (i, v) in svc
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("services.{name}.volumes[{i}]");
            match v {
                Value::String(s) => {
                    if let Some((src, _)) =
                        s.split_once(':').filter(|(src, _)| src.starts_with('.'))
                    {
                        push(field, src.to_string(), Kind::Bind);
                    }
                }
                Value::Mapping(m) if m.get("type").and_then(Value::as_str) == Some("bind") => {
                    if let Some(src) = m.get("source").and_then(text) {
                        push(field, src, Kind::Bind);
                    }
                }
                _ => {}
            }
        }
        let env_files: Vec<String> = match svc.get("env_file") {
            Some(Value::Sequence(seq)) => seq
                .iter()
                .filter_map(|e| e.get("path").and_then(text).or_else(|| text(e)))
                .collect(),
            Some(other) => text(other).into_iter().collect(),
            None => Vec::new(),
        };
        for f in env_files {
            push(format!("services.{name}.env_file"), f, Kind::File);
        }
        match svc.get("build") {
            Some(Value::String(c)) => {
                push(format!("services.{name}.build"), c.clone(), Kind::Context)
            }
            Some(b @ Value::Mapping(_)) => {
                let ctx = b
                    .get("context")
                    .and_then(text)
                    .unwrap_or_else(|| ".".into());
                push(
                    format!("services.{name}.build.context"),
                    ctx.clone(),
                    Kind::Context,
                );
                if let Some(df) = b.get("dockerfile").and_then(text) {
                    push(
                        format!("services.{name}.build.dockerfile"),
                        format!("{ctx}/{df}"),
                        Kind::File,
                    );
                }
            }
            _ => {}
        }
    }
    for key in ["secrets", "configs"] {
        for (name, def) in doc
            .get(key)
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            if let Some(f) = def.get("file").and_then(text) {
                push(
                    format!("{key}.{}.file", name.as_str().unwrap_or_default()),
                    f,
                    Kind::File,
                );
            }
        }
    }
    out
}

/// `p` without `.` and `..`, lexically; `None` when it climbs above its start.
fn normalise(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    Some(out)
}

/// The files collected so far, by path relative to the project folder.
struct Collected {
    root: PathBuf,
    files: BTreeMap<String, (Vec<u8>, bool)>,
    total: usize,
}

impl Collected {
    fn add_file(&mut self, rel: &Path, field: &str) -> Result<(), ProjectError> {
        use std::os::unix::fs::PermissionsExt as _;
        let key = rel.to_string_lossy().replace('\\', "/");
        if self.files.contains_key(&key) || key == ".env" {
            return Ok(());
        }
        let full = self.root.join(rel);
        let meta = std::fs::symlink_metadata(&full)
            .map_err(|e| ProjectError(format!("{key} ({field}): {e}")))?;
        if meta.len() as usize > MAX_APP_FILE_BYTES {
            return Err(ProjectError(format!("{key} ({field}) is {} bytes; a file sent with a compose file may hold at most {MAX_APP_FILE_BYTES}", meta.len())));
        }
        let bytes = std::fs::read(&full)
            .map_err(|e| ProjectError(format!("reading {key} ({field}): {e}")))?;
        self.total += bytes.len();
        if self.total > MAX_APP_FILES_BYTES {
            return Err(ProjectError(format!("the files to send pass {MAX_APP_FILES_BYTES} bytes at {key} ({field}); leave large data out (a .dockerignore, or a named volume)")));
        }
        if self.files.len() >= MAX_APP_FILES {
            return Err(ProjectError(format!(
                "more than {MAX_APP_FILES} files to send, at {key} ({field})"
            )));
        }
        self.files
            .insert(key, (bytes, meta.permissions().mode() & 0o111 != 0));
        Ok(())
    }

    /// Adds `rel` (a file, or a folder walked whole), leaving out what `ignore` excludes.
    fn add(
        &mut self,
        rel: &Path,
        field: &str,
        ignore: Option<(&Path, &DockerIgnore)>,
    ) -> Result<(), ProjectError> {
        let full = self.root.join(rel);
        let key = rel.to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(&full)
            .map_err(|e| ProjectError(format!("{key} ({field}): {e}")))?;
        let within = |p: &Path| {
            ignore.and_then(|(ctx, ig)| {
                p.strip_prefix(ctx)
                    .ok()
                    .map(|r| (r.to_string_lossy().into_owned(), ig))
            })
        };
        if meta.file_type().is_symlink() {
            return Err(ProjectError(format!(
                "{key} ({field}) is a symbolic link; AppOS sends regular files and folders only"
            )));
        }
        if meta.is_file() {
            if within(rel).is_some_and(|(r, ig)| !r.is_empty() && ig.excludes(&r)) {
                return Ok(());
            }
            return self.add_file(rel, field);
        }
        if !meta.is_dir() {
            return Err(ProjectError(format!(
                "{key} ({field}) is neither a file nor a folder"
            )));
        }
        if within(rel).is_some_and(|(r, ig)| !r.is_empty() && ig.prunes(&r)) {
            return Ok(());
        }
        let mut entries: Vec<_> = std::fs::read_dir(&full)
            .map_err(|e| ProjectError(format!("{key} ({field}): {e}")))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for name in entries {
            self.add(&rel.join(name), field, ignore)?;
        }
        Ok(())
    }
}

/// The files `compose` (the text of `compose_path`) references inside its
/// folder, ready to send. A reference outside the folder, a missing file,
/// a symbolic link or a file over the limits is an error naming it.
pub fn files(compose_path: &Path, compose: &str) -> Result<Vec<AppFile>, ProjectError> {
    let mut doc: Value = serde_yaml_ng::from_str(compose)
        .map_err(|e| ProjectError(format!("{}: not valid YAML: {e}", compose_path.display())))?;
    doc.apply_merge()
        .map_err(|e| ProjectError(format!("{}: {e}", compose_path.display())))?;
    let root = compose_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let own = compose_path.file_name().map(PathBuf::from);
    let mut c = Collected {
        root: root.clone(),
        files: BTreeMap::new(),
        total: 0,
    };
    for r in refs(&doc) {
        let Some(rel) = normalise(Path::new(&r.path)) else {
            return Err(ProjectError(format!(
                "{} ({}) is outside the project folder; AppOS sends only what is inside it",
                r.path, r.field
            )));
        };
        if rel.as_os_str().is_empty() && r.kind == Kind::Bind {
            continue; // The app's folder itself: the agent refuses it, with the reason.
        }
        let exists = std::fs::symlink_metadata(root.join(&rel)).is_ok();
        match (r.kind, exists) {
            (Kind::Bind, false) => continue,
            (_, false) => {
                return Err(ProjectError(format!(
                    "{} ({}) does not exist in {}",
                    r.path,
                    r.field,
                    root.display()
                )))
            }
            (Kind::Context, true) => {
                let ignore_file = root.join(&rel).join(".dockerignore");
                let ig = match std::fs::read_to_string(&ignore_file) {
                    Ok(t) => DockerIgnore::parse(&t)
                        .map_err(|e| ProjectError(format!("{}: {e}", ignore_file.display())))?,
                    Err(_) => DockerIgnore::parse("").map_err(ProjectError)?,
                };
                c.add(&rel, &r.field, Some((&rel, &ig)))?;
            }
            _ => c.add(&rel, &r.field, None)?,
        }
    }
    if let Some(own) = own {
        c.files.remove(&own.to_string_lossy().into_owned());
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(c.files
        .into_iter()
        .map(|(path, (bytes, executable))| AppFile {
            path,
            content: b64.encode(bytes),
            executable,
        })
        .collect())
}

/// The names a compose file has in a folder, in the order `docker compose` looks for them.
const COMPOSE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Reads a project: `path` is a compose file, or a folder holding one.
/// Returns the compose file, the files it references, and the `.env`
/// beside it (the variables `docker compose` would interpolate).
pub fn read(path: &Path) -> Result<LocalProject, ProjectError> {
    let file = if path.is_dir() {
        COMPOSE_NAMES
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                ProjectError(format!(
                    "{} holds no compose file ({})",
                    path.display(),
                    COMPOSE_NAMES.join(", ")
                ))
            })?
    } else {
        path.to_path_buf()
    };
    let compose = std::fs::read_to_string(&file)
        .map_err(|e| ProjectError(format!("reading {}: {e}", file.display())))?;
    let files = files(&file, &compose)?;
    let beside = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(".env");
    let env = if beside.is_file() {
        read_env(&beside)?
    } else {
        BTreeMap::new()
    };
    Ok(LocalProject {
        compose_path: file.display().to_string(),
        compose,
        files,
        env,
    })
}

/// `KEY=VALUE` lines as `docker compose` reads a `.env`.
pub fn read_env(path: &Path) -> Result<BTreeMap<String, String>, ProjectError> {
    let mut env = BTreeMap::new();
    for item in dotenvy::from_path_iter(path)
        .map_err(|e| ProjectError(format!("reading {}: {e}", path.display())))?
    {
        let (k, v) = item.map_err(|e| ProjectError(format!("parsing {}: {e}", path.display())))?;
        env.insert(k, v);
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    #[test]
    fn collects_what_the_file_references() {
        let d = tempfile::tempdir().expect("dir");
        let compose = "services:\n  web:\n    build: ./app\n    volumes: [\"./conf/site.conf:/etc/site.conf:ro\", \"./data:/data\", \"/srv:/srv\", \"named:/n\"]\n    env_file: [./web.env]\n  db:\n    image: x\n    volumes:\n      - {type: bind, source: ./initdb, target: /docker-entrypoint-initdb.d}\nsecrets:\n  pw: {file: ./pw.txt}\n";
        write(d.path(), "compose.yml", compose);
        write(d.path(), ".env", "SECRET=1");
        write(d.path(), "conf/site.conf", "listen 80;");
        write(d.path(), "web.env", "A=1");
        write(d.path(), "pw.txt", "hunter2");
        write(d.path(), "initdb/01.sql", "create table t (x int);");
        write(d.path(), "app/Dockerfile", "FROM busybox");
        write(d.path(), "app/.dockerignore", "node_modules\n*.log\n");
        write(d.path(), "app/index.html", "hi");
        write(d.path(), "app/node_modules/big.js", "x");
        write(d.path(), "app/debug.log", "x");
        write(d.path(), "unrelated.txt", "not sent");
        let files = files(&d.path().join("compose.yml"), compose).expect("collected");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "app/.dockerignore",
                "app/Dockerfile",
                "app/index.html",
                "conf/site.conf",
                "initdb/01.sql",
                "pw.txt",
                "web.env"
            ]
        );
        assert_eq!(
            files[3].content,
            base64::engine::general_purpose::STANDARD.encode("listen 80;")
        );
    }

    #[test]
    fn a_folder_is_read_like_docker_compose_reads_it() {
        let d = tempfile::tempdir().expect("dir");
        write(
            d.path(),
            "docker-compose.yml",
            "services:\n  web:\n    image: x\n    volumes: [\"./conf:/c\"]\n",
        );
        write(d.path(), "conf/a.conf", "a");
        write(d.path(), ".env", "PASSWORD='p#s s$'\n");
        let p = read(d.path()).expect("read");
        assert_eq!(
            p.compose_path,
            d.path().join("docker-compose.yml").display().to_string()
        );
        assert_eq!(
            p.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["conf/a.conf"]
        );
        assert_eq!(p.env.get("PASSWORD").map(String::as_str), Some("p#s s$"));
        let empty = tempfile::tempdir().expect("dir");
        assert_eq!(read(empty.path()).expect_err("none").to_string(), format!("{} holds no compose file (compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml)", empty.path().display()));
    }

    #[test]
    fn errors_name_the_file() {
        let d = tempfile::tempdir().expect("dir");
        let path = d.path().join("compose.yml");
        let err = |compose: &str| files(&path, compose).expect_err("refused").to_string();
        assert_eq!(
            err("services:\n  web:\n    image: x\n    env_file: ./missing.env\n"),
            format!(
                "./missing.env (services.web.env_file) does not exist in {}",
                d.path().display()
            )
        );
        assert_eq!(
            err("services:\n  web:\n    image: x\n    volumes: [\"../shared:/s\"]\n"),
            "../shared (services.web.volumes[0]) is outside the project folder; AppOS sends only what is inside it"
        );
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link.conf")).expect("link");
        assert_eq!(
            err("services:\n  web:\n    image: x\n    volumes: [\"./link.conf:/c\"]\n"),
            "link.conf (services.web.volumes[0]) is a symbolic link; AppOS sends regular files and folders only"
        );
        std::fs::write(d.path().join("big.bin"), vec![0u8; MAX_APP_FILE_BYTES + 1]).expect("write");
        assert_eq!(
            err("services:\n  web:\n    image: x\n    volumes: [\"./big.bin:/b\"]\n"),
            format!("big.bin (services.web.volumes[0]) is {} bytes; a file sent with a compose file may hold at most {MAX_APP_FILE_BYTES}", MAX_APP_FILE_BYTES + 1)
        );
        // A missing bind source is made by the compose tool on the server.
        assert!(files(
            &path,
            "services:\n  web:\n    image: x\n    volumes: [\"./data:/d\"]\n"
        )
        .expect("ok")
        .is_empty());
    }
}
