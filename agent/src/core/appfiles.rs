//! Files sent with a compose file: which paths they may take in the app's
//! folder, and how big they may be. Pure: writing them is `infra::appfiles`.

use std::collections::BTreeMap;

use appos_proto::{AppFile, FieldError};
use base64::Engine as _;

pub use appos_proto::{
    MAX_APP_FILES as MAX_FILES, MAX_APP_FILES_BYTES as MAX_TOTAL_BYTES,
    MAX_APP_FILE_BYTES as MAX_FILE_BYTES,
};

/// Names the agent writes itself in an app's folder.
const RESERVED: &[&str] = &["compose.yml", ".env", ".resolve.yml"];

/// A checked file: its path and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// Why a path cannot be an app file, if it cannot.
fn path_problem(path: &str) -> Option<String> {
    if path.is_empty() || path.len() > 1024 {
        return Some("paths are 1 to 1024 bytes long".into());
    }
    if path.starts_with('/') {
        return Some("paths are relative to the app's folder".into());
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 32 {
        return Some("paths are at most 32 folders deep".into());
    }
    for p in &parts {
        match *p {
            "" | "." | ".." => return Some("paths have no empty, `.` or `..` parts".into()),
            p if p.contains('\0') || p.contains('\\') => {
                return Some("paths have no NUL or backslash".into())
            }
            _ => {}
        }
    }
    if RESERVED.contains(&path) || parts[0].starts_with(".staging-") {
        return Some(format!("{path} is written by AppOS itself"));
    }
    None
}

/// Decodes and checks the files sent with a compose file: relative paths
/// that stay inside the app's folder, none twice, no file where another
/// needs a folder, and the size limits. Every problem is reported, each
/// under `files[i]`.
pub fn check(files: &[AppFile]) -> Result<Vec<File>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if files.len() > MAX_FILES {
        return Err(vec![FieldError::new(
            "files",
            format!("{} files; at most {MAX_FILES} are accepted", files.len()),
        )]);
    }
    let mut out = Vec::with_capacity(files.len());
    let mut total = 0usize;
    for (i, f) in files.iter().enumerate() {
        let field = format!("files[{i}]");
        if let Some(p) = path_problem(&f.path) {
            errors.push(FieldError::new(
                format!("{field}.path"),
                format!("{:?}: {p}", f.path),
            ));
            continue;
        }
        let bytes = match base64::engine::general_purpose::STANDARD.decode(&f.content) {
            Ok(b) => b,
            Err(e) => {
                errors.push(FieldError::new(
                    format!("{field}.content"),
                    format!("{}: not base64: {e}", f.path),
                ));
                continue;
            }
        };
        if bytes.len() > MAX_FILE_BYTES {
            errors.push(FieldError::new(
                format!("{field}.content"),
                format!(
                    "{} is {} bytes; a file may hold at most {MAX_FILE_BYTES}",
                    f.path,
                    bytes.len()
                ),
            ));
            continue;
        }
        total += bytes.len();
        out.push(File {
            path: f.path.clone(),
            bytes,
            executable: f.executable,
        });
    }
    if total > MAX_TOTAL_BYTES {
        errors.push(FieldError::new(
            "files",
            format!("the files hold {total} bytes; at most {MAX_TOTAL_BYTES} are accepted"),
        ));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, f) in out.iter().enumerate() {
        if let Some(j) = seen.insert(&f.path, i) {
            errors.push(FieldError::new(
                format!("files[{i}].path"),
                format!("{} is given twice (also files[{j}])", f.path),
            ));
        }
    }
    for f in &out {
        let mut prefix = String::new();
        for part in f
            .path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            prefix = if prefix.is_empty() {
                part.to_string()
            } else {
                format!("{prefix}/{part}")
            };
            if seen.contains_key(prefix.as_str()) {
                errors.push(FieldError::new(
                    "files",
                    format!("{prefix} is a file, but {} needs it to be a folder", f.path),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// SHA-256 of a file's content, in hex: how versions name their files.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8]) -> AppFile {
        AppFile {
            path: path.into(),
            content: base64::engine::general_purpose::STANDARD.encode(content),
            executable: false,
        }
    }

    #[test]
    fn paths_stay_inside_the_app_folder() {
        for (path, message) in [
            (
                "/etc/passwd",
                "\"/etc/passwd\": paths are relative to the app's folder",
            ),
            ("../x", "\"../x\": paths have no empty, `.` or `..` parts"),
            (
                "a/../../x",
                "\"a/../../x\": paths have no empty, `.` or `..` parts",
            ),
            ("a//b", "\"a//b\": paths have no empty, `.` or `..` parts"),
            ("./a", "\"./a\": paths have no empty, `.` or `..` parts"),
            ("", "\"\": paths are 1 to 1024 bytes long"),
            (".env", "\".env\": .env is written by AppOS itself"),
            (
                "compose.yml",
                "\"compose.yml\": compose.yml is written by AppOS itself",
            ),
            ("a\\b", "\"a\\\\b\": paths have no NUL or backslash"),
        ] {
            assert_eq!(
                check(&[file(path, b"x")]),
                Err(vec![FieldError::new("files[0].path", message)]),
                "{path}"
            );
        }
        let ok = check(&[
            file("conf/nginx.conf", b"server {}"),
            file(".env.extra", b"A=1"),
            file("build/Dockerfile", b"FROM x"),
        ])
        .expect("ok");
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[0].bytes, b"server {}");
    }

    #[test]
    fn duplicates_conflicts_and_sizes() {
        let e = check(&[file("a", b"1"), file("a", b"2"), file("a/b", b"3")]).expect_err("refused");
        assert_eq!(
            e,
            [
                FieldError::new("files[1].path", "a is given twice (also files[0])"),
                FieldError::new("files", "a is a file, but a/b needs it to be a folder")
            ]
        );
        let big = vec![0u8; MAX_FILE_BYTES + 1];
        let e = check(&[file("big.bin", &big)]).expect_err("refused");
        assert_eq!(
            e,
            [FieldError::new(
                "files[0].content",
                format!(
                    "big.bin is {} bytes; a file may hold at most {MAX_FILE_BYTES}",
                    MAX_FILE_BYTES + 1
                )
            )]
        );
        let three: Vec<AppFile> = (0..3)
            .map(|i| file(&format!("f{i}"), &vec![0u8; MAX_FILE_BYTES]))
            .collect();
        let e = check(&three).expect_err("refused");
        assert_eq!(
            e,
            [FieldError::new(
                "files",
                format!(
                    "the files hold {} bytes; at most {MAX_TOTAL_BYTES} are accepted",
                    3 * MAX_FILE_BYTES
                )
            )]
        );
        let bad = AppFile {
            path: "x".into(),
            content: "not base64!".into(),
            executable: false,
        };
        assert_eq!(
            check(&[bad]).expect_err("refused")[0].field,
            "files[0].content"
        );
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
