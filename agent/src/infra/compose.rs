//! The compose tool on this server: the argv of each command, running it
//! (through the warm docker-compose process when there is one), and the
//! app directory it runs in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where app files live: `<data>/apps/<app>/`.
pub fn app_dir(apps_root: &Path, app: &str) -> PathBuf {
    apps_root.join(app)
}

/// The argv of a compose command for `app` in `dir`.
pub fn command(tool: &[String], app: &str, dir: &Path, args: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = tool.to_vec();
    argv.extend([
        "-p".into(),
        app.into(),
        "-f".into(),
        dir.join("compose.yml").display().to_string(),
    ]);
    argv.extend(["--env-file".into(), dir.join(".env").display().to_string()]);
    argv.extend(args.iter().map(|s| s.to_string()));
    argv
}

/// The argv that prints the model the compose tool resolves from `file`
/// and `env_file` (variables substituted, merge keys, `extends` and
/// `include` applied, relative paths made absolute against the file's folder).
pub fn resolve_command(tool: &[String], app: &str, file: &Path, env_file: &Path) -> Vec<String> {
    let mut argv: Vec<String> = tool.to_vec();
    argv.extend([
        "-p".into(),
        app.into(),
        "-f".into(),
        file.display().to_string(),
        "--env-file".into(),
        env_file.display().to_string(),
        "config".into(),
    ]);
    argv
}

/// The argv that merges a project's compose `files` into one (variables
/// left as `${...}`, relative paths resolved against `workdir`).
pub fn merged_config_command(
    tool: &[String],
    project: &str,
    files: &[PathBuf],
    workdir: &Path,
) -> Vec<String> {
    let mut argv: Vec<String> = tool.to_vec();
    argv.extend(["-p".into(), project.into()]);
    for f in files {
        argv.extend(["-f".into(), f.display().to_string()]);
    }
    argv.extend([
        "--project-directory".into(),
        workdir.display().to_string(),
        "config".into(),
        "--no-interpolate".into(),
    ]);
    argv
}

/// Runs an argv (no shell) in `cwd` with no input.
async fn exec(argv: &[String], cwd: &Path) -> Result<std::process::Output, String> {
    if let Some(z) = crate::infra::zygote::warm().filter(|z| z.handles(argv)) {
        return z.run(argv, cwd).await;
    }
    let Some((prog, args)) = argv.split_first() else {
        return Err("no compose tool found on this server".into());
    };
    tokio::process::Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("running {prog}: {e}"))
}

/// Runs an argv (no shell, not through the warm helper) in `cwd` and sends
/// each line it prints, on stdout or stderr, to `lines` as it comes.
/// Fails with the exit status.
pub async fn run_streaming(
    argv: &[String],
    cwd: &Path,
    lines: tokio::sync::mpsc::UnboundedSender<String>,
) -> Result<(), String> {
    use tokio::io::AsyncBufReadExt as _;
    let Some((prog, args)) = argv.split_first() else {
        return Err("no compose tool found on this server".into());
    };
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running {prog}: {e}"))?;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("no output pipes".into());
    };
    let (mut out, mut err) = (
        tokio::io::BufReader::new(out).lines(),
        tokio::io::BufReader::new(err).lines(),
    );
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let line = tokio::select! {
            l = out.next_line(), if out_open => l.unwrap_or(None).or_else(|| { out_open = false; None }),
            l = err.next_line(), if err_open => l.unwrap_or(None).or_else(|| { err_open = false; None }),
        };
        if let Some(l) = line {
            let _ = lines.send(l);
        }
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{prog} exited with {status}"))
    }
}

fn combined(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a compose command and returns its combined output, or the output as
/// the error when it fails.
pub async fn run(argv: &[String], cwd: &Path) -> Result<String, String> {
    let out = exec(argv, cwd).await?;
    if out.status.success() {
        Ok(combined(&out))
    } else {
        Err(combined(&out).trim().to_string())
    }
}

/// Runs a command and returns what it printed on stdout, or its combined
/// output as the error when it fails.
pub async fn run_stdout(argv: &[String], cwd: &Path) -> Result<String, String> {
    let out = exec(argv, cwd).await?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(combined(&out).trim().to_string())
    }
}

/// Writes `compose.yml` (0640) and `.env` (0600) into `dir`, replacing them atomically.
pub fn write_app_files(
    dir: &Path,
    compose: &str,
    env: &BTreeMap<String, String>,
    syntax: crate::core::compose::EnvSyntax,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
    write_atomically(dir, "compose.yml", compose.as_bytes(), 0o640)?;
    write_atomically(
        dir,
        ".env",
        crate::core::compose::render_env(env, syntax).as_bytes(),
        0o600,
    )
}

/// Writes `dir/name` with `mode`: a new file beside it, synced, renamed over it.
pub fn write_atomically(dir: &Path, name: &str, content: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_argv_has_no_shell() {
        let argv = command(
            &["docker-compose".into()],
            "blog",
            Path::new("/d/apps/blog"),
            &["up", "-d"],
        );
        assert_eq!(
            argv,
            [
                "docker-compose",
                "-p",
                "blog",
                "-f",
                "/d/apps/blog/compose.yml",
                "--env-file",
                "/d/apps/blog/.env",
                "up",
                "-d"
            ]
        );
        let files = [
            PathBuf::from("/srv/s/compose.yml"),
            PathBuf::from("/srv/s/override.yml"),
        ];
        let argv = merged_config_command(
            &["docker".into(), "compose".into()],
            "s",
            &files,
            Path::new("/srv/s"),
        );
        assert_eq!(
            argv,
            [
                "docker",
                "compose",
                "-p",
                "s",
                "-f",
                "/srv/s/compose.yml",
                "-f",
                "/srv/s/override.yml",
                "--project-directory",
                "/srv/s",
                "config",
                "--no-interpolate"
            ]
        );
    }
}
