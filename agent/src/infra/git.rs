//! Git, for the catalog's git source: the source's URL and ref, validated,
//! and a shallow clone kept up to date. git runs from an argv, with no
//! prompts and a time limit.

use std::path::Path;

/// A git repository of templates: `URL` or `URL#REF` (a branch or tag).
/// Its top-level `*.toml` files are templates of the shipped format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    pub url: String,
    pub reference: Option<String>,
}

impl GitSource {
    pub fn parse(s: &str) -> anyhow::Result<GitSource> {
        let (url, reference) = match s.rsplit_once('#') {
            Some((u, r)) => (u, Some(r)),
            None => (s, None),
        };
        let remote = ["https://", "http://", "ssh://", "git://", "file://"]
            .iter()
            .any(|p| url.starts_with(p))
            || url.starts_with('/')
            || (url.contains('@') && url.contains(':') && !url.contains(' '));
        if !remote || url.starts_with('-') || url.contains(char::is_whitespace) {
            anyhow::bail!("catalog git source {:?}: expected https://…, ssh://…, git@host:path, file://… or an absolute path", crate::core::redact::urls(url));
        }
        if let Some(r) = reference {
            let ok = !r.is_empty()
                && !r.starts_with('-')
                && !r.contains("..")
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
            if !ok {
                anyhow::bail!("catalog git ref {r:?}: expected a branch or tag name");
            }
        }
        Ok(GitSource {
            url: url.to_string(),
            reference: reference.map(str::to_string),
        })
    }
}

/// Runs git with an argv (never a shell), no prompts, and a time limit.
async fn git(args: &[&str], cwd: &Path) -> Result<String, String> {
    let run = tokio::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .map_err(|_| format!("git {} took longer than 120 s", args.first().unwrap_or(&"")))?
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        // git quotes the remote's URL in its errors, credentials and all.
        Err(crate::core::redact::urls(
            err.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("git failed")
                .trim(),
        ))
    }
}

/// Clones `src` into `dir`, or brings an existing clone to the newest commit
/// of its ref (a shallow fetch and a hard reset: the clone is the agent's,
/// nobody edits it). Returns that commit.
pub async fn sync(src: &GitSource, dir: &Path) -> Result<String, String> {
    let parent = dir
        .parent()
        .ok_or("the catalog clone needs a parent directory")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let d = dir.display().to_string();
    let updated = if dir.join(".git").is_dir() {
        let fetch = async {
            git(
                &["-C", &d, "remote", "set-url", "origin", "--", &src.url],
                parent,
            )
            .await?;
            let r = src.reference.as_deref().unwrap_or("HEAD");
            git(
                &["-C", &d, "fetch", "--depth", "1", "origin", "--", r],
                parent,
            )
            .await?;
            git(&["-C", &d, "reset", "--hard", "FETCH_HEAD"], parent).await
        };
        fetch.await.is_ok()
    } else {
        false
    };
    if !updated {
        // No clone yet, or one that cannot be updated: clone afresh beside
        // it, and replace it only when that worked.
        let fresh = dir.with_extension("new");
        let f = fresh.display().to_string();
        let _ = std::fs::remove_dir_all(&fresh);
        let mut args = vec!["clone", "--depth", "1", "--quiet"];
        if let Some(r) = &src.reference {
            args.extend(["--branch", r.as_str()]);
        }
        args.extend(["--", src.url.as_str(), f.as_str()]);
        if let Err(e) = git(&args, parent).await {
            let _ = std::fs::remove_dir_all(&fresh);
            return Err(e);
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&fresh, dir)
            .map_err(|e| format!("moving the new clone into {}: {e}", dir.display()))?;
    }
    git(&["-C", &d, "rev-parse", "HEAD"], parent).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources() {
        let g = GitSource::parse("https://github.com/acme/templates.git#v2").expect("ok");
        assert_eq!(
            (g.url.as_str(), g.reference.as_deref()),
            ("https://github.com/acme/templates.git", Some("v2"))
        );
        for ok in [
            "git@github.com:acme/t.git",
            "/srv/catalog",
            "file:///srv/catalog",
            "ssh://git@h/t#release/1.0",
        ] {
            assert!(GitSource::parse(ok).is_ok(), "{ok}");
        }
        // Option injection, other schemes, spaces and odd refs are refused.
        for bad in [
            "-oProxyCommand=touch /tmp/x",
            "ext::sh -c id",
            "relative/dir",
            "https://h/x y",
            "https://h/x#--upload-pack=x",
            "https://h/x#a..b",
            "https://h/x#",
        ] {
            assert!(GitSource::parse(bad).is_err(), "{bad}");
        }
    }
}
