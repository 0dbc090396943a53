//! The app catalog: templates shipped in the agent (`agent/catalog/*.toml`)
//! and, optionally, a git repository and a directory of the same format that
//! add to or replace them (the directory wins over the repository, which
//! wins over the shipped ones). A template is a compose file that uses `${VARIABLES}` and typed
//! parameters for them; rendering fills the app's `.env`, so the compose
//! tool's own interpolation does the substitution.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use appos_proto::{CatalogEntry, CatalogParam, FieldError, HostAccess, ParamKind};
use rand::Rng as _;
use serde::Deserialize;

use crate::core::host_access::{self, Layout};

/// The shipped templates, embedded at build time.
const BUILTIN: &[(&str, &str)] = &[
    ("adminer", include_str!("../../catalog/adminer.toml")),
    ("bookstack", include_str!("../../catalog/bookstack.toml")),
    (
        "code-server",
        include_str!("../../catalog/code-server.toml"),
    ),
    ("drupal", include_str!("../../catalog/drupal.toml")),
    ("excalidraw", include_str!("../../catalog/excalidraw.toml")),
    (
        "filebrowser",
        include_str!("../../catalog/filebrowser.toml"),
    ),
    ("ghost", include_str!("../../catalog/ghost.toml")),
    ("gitea", include_str!("../../catalog/gitea.toml")),
    ("grafana", include_str!("../../catalog/grafana.toml")),
    (
        "home-assistant",
        include_str!("../../catalog/home-assistant.toml"),
    ),
    ("jellyfin", include_str!("../../catalog/jellyfin.toml")),
    ("joomla", include_str!("../../catalog/joomla.toml")),
    ("mariadb", include_str!("../../catalog/mariadb.toml")),
    ("matomo", include_str!("../../catalog/matomo.toml")),
    ("mattermost", include_str!("../../catalog/mattermost.toml")),
    ("metabase", include_str!("../../catalog/metabase.toml")),
    ("minio", include_str!("../../catalog/minio.toml")),
    ("mongodb", include_str!("../../catalog/mongodb.toml")),
    ("n8n", include_str!("../../catalog/n8n.toml")),
    ("nextcloud", include_str!("../../catalog/nextcloud.toml")),
    (
        "nginx-static",
        include_str!("../../catalog/nginx-static.toml"),
    ),
    ("nocodb", include_str!("../../catalog/nocodb.toml")),
    ("odoo", include_str!("../../catalog/odoo.toml")),
    ("postgresql", include_str!("../../catalog/postgresql.toml")),
    ("prometheus", include_str!("../../catalog/prometheus.toml")),
    ("redis", include_str!("../../catalog/redis.toml")),
    (
        "uptime-kuma",
        include_str!("../../catalog/uptime-kuma.toml"),
    ),
    (
        "vaultwarden",
        include_str!("../../catalog/vaultwarden.toml"),
    ),
    ("wikijs", include_str!("../../catalog/wikijs.toml")),
    ("wordpress", include_str!("../../catalog/wordpress.toml")),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub entry: CatalogEntry,
    pub compose: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    id: String,
    name: String,
    description: String,
    category: String,
    website: String,
    #[serde(default)]
    logo: String,
    #[serde(default)]
    params: Vec<CatalogParam>,
    /// The host access the template needs (an install asks the admin for it).
    #[serde(default)]
    host_access: Vec<HostAccess>,
    compose: String,
}

fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_uppercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// Parses and checks one template file.
pub fn parse(text: &str) -> Result<Template, String> {
    let f: TemplateFile = toml::from_str(text).map_err(|e| e.to_string())?;
    if appos_proto::AppName::parse(&f.id).is_err() {
        return Err(format!("id {:?} is not a valid app name", f.id));
    }
    for p in &f.params {
        if !valid_key(&p.key) {
            return Err(format!(
                "parameter {:?}: keys are UPPER_CASE variable names",
                p.key
            ));
        }
        if let Some(d) = &p.default {
            check_value(p, d).map_err(|e| format!("parameter {}: default {d:?}: {e}", p.key))?;
        }
        if p.generate.is_some_and(|n| !(8..=128).contains(&n)) {
            return Err(format!("parameter {}: generate 8 to 128 characters", p.key));
        }
    }
    crate::core::compose::inspect(&f.compose).map_err(|e| format!("compose: {e:?}"))?;
    // What it asks for, as written, must be declared (a deploy judges the
    // resolved file again, with the parameters filled in).
    let mut raw: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&f.compose).map_err(|e| format!("compose: {e}"))?;
    raw.apply_merge().map_err(|e| format!("compose: {e}"))?;
    let layout = Layout {
        app_dir: Path::new(crate::infra::config::DEFAULT_DATA_DIR)
            .join("apps")
            .join(&f.id),
        also_own: Vec::new(),
        docker_sockets: Vec::new(),
    };
    let unknown = |e: Vec<FieldError>| {
        format!(
            "compose: {}",
            e.iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let needs = host_access::judge(&raw, &layout).map_err(unknown)?;
    if let Some(n) = needs
        .iter()
        .find(|n| !f.host_access.iter().any(|d| d.covers(&n.access)))
    {
        return Err(format!(
            "the compose file asks for host access the template does not declare: {}",
            n.access.describe()
        ));
    }
    Ok(Template {
        entry: CatalogEntry {
            id: f.id,
            name: f.name,
            description: f.description,
            category: f.category,
            website: f.website,
            logo: f.logo,
            params: f.params,
            host_access: f.host_access,
            host_access_grew: false,
        },
        compose: f.compose,
    })
}

fn check_value(p: &CatalogParam, v: &str) -> Result<(), String> {
    if v.contains(['\n', '\r', '\0']) {
        return Err("must be a single line".into());
    }
    match p.kind {
        ParamKind::String | ParamKind::Password => Ok(()),
        ParamKind::Int => v
            .parse::<i64>()
            .map(drop)
            .map_err(|_| "must be a whole number".into()),
        ParamKind::Bool => matches!(v, "true" | "false")
            .then_some(())
            .ok_or_else(|| "must be true or false".into()),
        ParamKind::Port => v
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .map(drop)
            .ok_or_else(|| "must be a port from 1 to 65535".into()),
        ParamKind::Domain => valid_domain(v)
            .then_some(())
            .ok_or_else(|| "must be a domain name such as app.example.com".into()),
    }
}

/// DNS host names: labels of letters, digits and inner hyphens, 1–63 long, 253 in all.
pub fn valid_domain(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            let b = l.as_bytes();
            (1..=63).contains(&b.len())
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

fn secret(len: u32) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len as usize)
        .map(char::from)
        .collect()
}

/// What rendering a template gives: the compose file, the `.env`, and the
/// secrets that were generated (shown to the user once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub compose: String,
    pub env: BTreeMap<String, String>,
    pub generated: BTreeMap<String, String>,
}

/// Fills a template's parameters from `given`, defaults and generated secrets.
pub fn render(t: &Template, given: &BTreeMap<String, String>) -> Result<Rendered, Vec<FieldError>> {
    let mut errors = Vec::new();
    for k in given.keys() {
        if !t.entry.params.iter().any(|p| &p.key == k) {
            errors.push(FieldError {
                field: format!("catalog.params.{k}"),
                message: format!("{} has no parameter {k}", t.entry.id),
            });
        }
    }
    let (mut env, mut generated) = (BTreeMap::new(), BTreeMap::new());
    for p in &t.entry.params {
        let field = format!("catalog.params.{}", p.key);
        let value = match (given.get(&p.key), &p.default, p.generate) {
            (Some(v), _, _) => v.clone(),
            (None, Some(d), _) => d.clone(),
            (None, None, Some(n)) => {
                let s = secret(n);
                generated.insert(p.key.clone(), s.clone());
                s
            }
            (None, None, None) if p.required || p.kind != ParamKind::String => {
                errors.push(FieldError {
                    field,
                    message: format!("{} is required", p.label),
                });
                continue;
            }
            (None, None, None) => String::new(),
        };
        if let Err(e) = check_value(p, &value) {
            errors.push(FieldError { field, message: e });
            continue;
        }
        env.insert(p.key.clone(), value);
    }
    if errors.is_empty() {
        Ok(Rendered {
            compose: t.compose.clone(),
            env,
            generated,
        })
    } else {
        Err(errors)
    }
}

#[derive(Default)]
pub struct Catalog {
    templates: BTreeMap<String, Template>,
    skipped: Vec<String>,
}

/// The catalog the agent serves, reloaded when its git source is pulled.
pub struct Live {
    current: std::sync::RwLock<std::sync::Arc<Catalog>>,
    git: Option<(crate::infra::git::GitSource, PathBuf)>,
    dir: Option<PathBuf>,
    /// Held while a refresh runs (one git at a time in the clone).
    refreshing: tokio::sync::Mutex<()>,
    /// Each template's declared host access at the last refresh, and
    /// whether it grew then (JSON: `{id: [[access...], grew]}`).
    seen_file: PathBuf,
}

/// Template id → (declared host access, grew at the last refresh).
type Seen = BTreeMap<String, (Vec<HostAccess>, bool)>;

impl Live {
    /// Loads the shipped templates, the clone of the git source as it is on
    /// disk (no network here) and the custom directory.
    pub fn new(config: &crate::infra::config::Config) -> Live {
        let git = config
            .catalog_git
            .as_deref()
            .and_then(|g| crate::infra::git::GitSource::parse(g).ok())
            .map(|src| (src, config.data_dir.join("catalog-git")));
        let seen_file = config.data_dir.join("catalog-seen.json");
        let live = Live {
            current: Default::default(),
            git,
            dir: config.catalog_dir.clone(),
            refreshing: Default::default(),
            seen_file,
        };
        let seen = live.seen();
        let c = live.reload(&seen);
        if seen.is_empty() {
            live.record(&c, &seen, false);
        }
        live
    }

    fn seen(&self) -> Seen {
        std::fs::read(&self.seen_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Records what each template declares now; with `compare`, marks those
    /// that ask for more than `before` recorded.
    fn record(&self, c: &Catalog, before: &Seen, compare: bool) -> Seen {
        let now: Seen = c
            .templates
            .values()
            .map(|t| {
                let old = before.get(&t.entry.id).map(|(d, _)| d.as_slice());
                let grew = compare
                    && old.is_some_and(|old| {
                        !appos_proto::host_access::all_covered(old, &t.entry.host_access)
                    });
                (t.entry.id.clone(), (t.entry.host_access.clone(), grew))
            })
            .collect();
        if let Err(e) = serde_json::to_vec(&now)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&self.seen_file, b))
        {
            tracing::warn!(file = %self.seen_file.display(), error = %e, "cannot record the catalog's host access");
        }
        now
    }

    /// The directories templates are read from: the git clone, then the custom directory.
    fn dirs(&self) -> Vec<PathBuf> {
        self.git
            .iter()
            .map(|(_, d)| d.clone())
            .filter(|d| d.join(".git").is_dir())
            .chain(self.dir.clone())
            .collect()
    }

    fn reload(&self, seen: &Seen) -> std::sync::Arc<Catalog> {
        self.publish(Catalog::load(&self.dirs()), seen)
    }

    /// Serves `c`, its templates marked as `seen` says.
    fn publish(&self, mut c: Catalog, seen: &Seen) -> std::sync::Arc<Catalog> {
        for t in c.templates.values_mut() {
            // Marked while it still declares what it declared when it grew.
            t.entry.host_access_grew = seen
                .get(&t.entry.id)
                .is_some_and(|(d, grew)| *grew && *d == t.entry.host_access);
        }
        let c = std::sync::Arc::new(c);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = c.clone();
        c
    }

    /// The catalog as it is now.
    pub fn get(&self) -> std::sync::Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn has_git(&self) -> bool {
        self.git.is_some()
    }

    /// Pulls the git source (if any) and reloads every source. A failed pull
    /// keeps the templates of the last good clone.
    pub async fn refresh(&self) -> appos_proto::CatalogRefreshed {
        let _one = self.refreshing.lock().await;
        let (mut git_commit, mut git_error) = (None, None);
        if let Some((src, dir)) = &self.git {
            match crate::infra::git::sync(src, dir).await {
                Ok(c) => git_commit = Some(c),
                Err(e) => {
                    tracing::warn!(url = %crate::core::redact::urls(&src.url), error = %e, "cannot update the catalog's git source");
                    git_error = Some(e);
                }
            }
        }
        let before = self.seen();
        let fresh = Catalog::load(&self.dirs());
        let seen = self.record(&fresh, &before, true);
        let c = self.publish(fresh, &seen);
        appos_proto::CatalogRefreshed {
            templates: c.templates.len() as u32,
            git_commit,
            git_error,
            skipped: c.skipped().to_vec(),
        }
    }
}

/// Largest template file read.
pub const MAX_TEMPLATE_BYTES: u64 = 256 << 10;

/// Reads a template file of a catalog directory: a regular file only (a
/// symlink in a hostile repository could point at `/etc/shadow` or
/// `/dev/zero`), and at most [`MAX_TEMPLATE_BYTES`].
fn read_template(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("not a regular file (symbolic links are not followed)".into());
    }
    if meta.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "{} bytes; templates are limited to {MAX_TEMPLATE_BYTES}",
            meta.len()
        ));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_TEMPLATE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(format!("more than {MAX_TEMPLATE_BYTES} bytes"));
    }
    Ok(text)
}

impl Catalog {
    /// The shipped templates, then those of each directory in order (later
    /// ones replace earlier ones of the same id). A broken template in a
    /// directory is skipped and reported in `skipped`; the shipped ones are tested.
    pub fn load(dirs: &[PathBuf]) -> Catalog {
        let mut templates = BTreeMap::new();
        let mut skipped = Vec::new();
        for (id, text) in BUILTIN {
            match parse(text) {
                Ok(t) => {
                    templates.insert(t.entry.id.clone(), t);
                }
                Err(error) => tracing::error!(id, %error, "a shipped catalog template is invalid"),
            }
        }
        for dir in dirs {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut paths: Vec<_> = entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                        .collect();
                    paths.sort();
                    for path in paths {
                        match read_template(&path).and_then(|t| parse(&t)) {
                            Ok(t) => {
                                templates.insert(t.entry.id.clone(), t);
                            }
                            Err(error) => {
                                tracing::warn!(path = %path.display(), %error, "skipping an invalid catalog template");
                                skipped.push(format!("{}: {error}", path.display()));
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot read a catalog directory");
                    skipped.push(format!("{}: {error}", dir.display()));
                }
            }
        }
        Catalog { templates, skipped }
    }

    /// Template files that were skipped, with why.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Entries whose id, name, description or category contain `search` (any case).
    pub fn list(&self, search: Option<&str>) -> Vec<CatalogEntry> {
        let needle = search.map(str::to_lowercase);
        self.templates
            .values()
            .filter(|t| {
                needle.as_ref().is_none_or(|n| {
                    [
                        &t.entry.id,
                        &t.entry.name,
                        &t.entry.description,
                        &t.entry.category,
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(n))
                })
            })
            .map(|t| t.entry.clone())
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<&Template> {
        self.templates.get(id)
    }

    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.templates.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_is_listed_and_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("catalog dir")
            .flatten()
            .filter_map(|e| {
                e.path()
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .collect();
        on_disk.sort();
        let listed: Vec<String> = BUILTIN.iter().map(|(id, _)| id.to_string()).collect();
        assert_eq!(
            listed, on_disk,
            "BUILTIN must list every file in agent/catalog"
        );
        for (id, text) in BUILTIN {
            let t = parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(&t.entry.id, id);
        }
    }

    #[test]
    fn rendering_checks_types_and_generates_secrets() {
        let c = Catalog::load(&[]);
        let wp = c.get("wordpress").expect("wordpress");
        let r = render(wp, &BTreeMap::new()).expect("defaults render");
        assert_eq!(r.env["HTTP_PORT"], "8080");
        assert_eq!(r.generated.len(), 2);
        assert_eq!(r.env["DB_PASSWORD"].len(), 24);
        assert_ne!(r.env["DB_PASSWORD"], r.env["DB_ROOT_PASSWORD"]);
        let bad = BTreeMap::from([
            ("HTTP_PORT".to_string(), "99999".to_string()),
            ("NOPE".to_string(), "x".to_string()),
        ]);
        let errs = render(wp, &bad).expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["catalog.params.NOPE", "catalog.params.HTTP_PORT"]);
        let given = BTreeMap::from([("DB_PASSWORD".to_string(), "mine".to_string())]);
        let r = render(wp, &given).expect("given");
        assert_eq!(r.env["DB_PASSWORD"], "mine");
        assert!(!r.generated.contains_key("DB_PASSWORD"));
    }

    #[test]
    fn search_and_domains() {
        let c = Catalog::load(&[]);
        assert!(c
            .list(Some("DATABASE"))
            .iter()
            .any(|e| e.id == "postgresql"));
        assert!(c.list(Some("zzz-nothing")).is_empty());
        assert!(valid_domain("app.example.com"));
        for bad in [
            "localhost",
            "-a.com",
            "a..com",
            "a_b.com",
            "a.com/x",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(!valid_domain(bad), "{bad}");
        }
    }
}
