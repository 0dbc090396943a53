//! `cargo xtask dist [--debug] [--no-image]`: the release artifacts, in
//! `<target>/dist/`:
//! - `appos_VERSION_amd64.deb` (Tauri's bundler): the desktop, the `appos`
//!   CLI and `appos-agent` in `/usr/bin`, the CLI's man pages and shell
//!   completions, and the agent image in `/usr/share/appos/`, which
//!   `appos server install` sends to a server when no image is named;
//! - `appos-VERSION-linux-ARCH`: the CLI alone;
//! - `appos-agent-image-VERSION.tar.gz`: the agent image alone (`docker load`
//!   reads it as it is).
//!
//! The release desktop is built with a profile of a session of its own
//! (`pgo.rs`: profile-guided optimisation), which needs `llvm-profdata`
//! (`rustup component add llvm-tools`), Xvfb, tauri-driver and Docker.
//!
//! `--debug` packages the debug build (what the tests check); `--no-build`
//! packages the binaries as they are built already; `--no-image` leaves the
//! image out.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context as _};

use crate::{root, run, target_dir};

fn output(cmd: &mut Command) -> anyhow::Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

pub fn run_dist(args: &[String]) -> anyhow::Result<()> {
    let debug = args.iter().any(|a| a == "--debug");
    let with_image = !args.iter().any(|a| a == "--no-image");
    let build = !args.iter().any(|a| a == "--no-build");
    if let Some(other) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--debug" | "--no-image" | "--no-build"))
    {
        anyhow::bail!("cargo xtask dist: unknown argument {other:?} (usage: cargo xtask dist [--debug] [--no-build] [--no-image])");
    }
    let root = root();
    let profile = if debug { "debug" } else { "release" };
    let bins = target_dir().join(profile);
    let dist = target_dir().join("dist");
    let stage = dist.join("stage");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage)?;
    let version = env!("CARGO_PKG_VERSION");
    let arch = std::env::consts::ARCH;

    // The frontend the desktop embeds, then the three binaries.
    let ui = root.join("src-ui");
    if build {
        if !ui.join("node_modules").is_dir() {
            run(Command::new("npm").arg("--prefix").arg(&ui).arg("ci"))?;
        }
        run(Command::new("npm")
            .arg("--prefix")
            .arg(&ui)
            .args(["run", "build"]))?;
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .args(["build", "-p", "appos-cli", "-p", "appos-agent"])
            .current_dir(&root);
        if debug {
            cargo.args(["-p", "appos-desktop"]);
        } else {
            cargo.arg("--release");
        }
        run(&mut cargo)?;
        if !debug {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(crate::pgo::build_desktop(&root, &target_dir()))?;
        }
    }
    // The release desktop is optimised with a profile of a session of its own
    // (see pgo.rs), built for the host triple in its own target dir.
    let pgo = (!debug).then(|| crate::pgo::out_dir(&target_dir()));
    let appos = bins.join("appos");

    // Man pages (gzip'd, as Debian installs them) and completions, from the CLI itself.
    let man = stage.join("man");
    run(Command::new(&appos).arg("man").arg("--dir").arg(&man))?;
    let mut files: Vec<(String, PathBuf)> = vec![
        ("/usr/bin/appos".into(), appos.clone()),
        ("/usr/bin/appos-agent".into(), bins.join("appos-agent")),
    ];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&man)?
        .flatten()
        .map(|e| e.path())
        .collect();
    pages.sort();
    for page in pages {
        run(Command::new("gzip").args(["-9n"]).arg(&page))?;
        let name = format!(
            "{}.gz",
            page.file_name().unwrap_or_default().to_string_lossy()
        );
        files.push((format!("/usr/share/man/man1/{name}"), man.join(&name)));
    }
    for (shell, to) in [
        ("bash", "/usr/share/bash-completion/completions/appos"),
        ("zsh", "/usr/share/zsh/vendor-completions/_appos"),
        ("fish", "/usr/share/fish/vendor_completions.d/appos.fish"),
    ] {
        let file = stage.join(format!("completion.{shell}"));
        std::fs::write(
            &file,
            output(Command::new(&appos).args(["completion", shell]))?,
        )?;
        files.push((to.into(), file));
    }

    // The agent image: built on the debootstrapped base, saved, gzip'd.
    if with_image {
        let image = String::from_utf8(output(
            Command::new("bash")
                .arg(root.join("container/build-image.sh"))
                .arg(bins.join("appos-agent")),
        )?)?;
        ensure!(
            image.trim() == "appos/agent:latest",
            "build-image.sh built {image:?}"
        );
        let file = dist.join(format!("appos-agent-image-{version}.tar.gz"));
        let mut save = Command::new("docker")
            .args(["save", &format!("appos/agent:{version}")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("docker save")?;
        let tar = save.stdout.take().context("docker save's output")?;
        run(Command::new("gzip")
            .arg("-6")
            .stdin(tar)
            .stdout(std::fs::File::create(&file)?))?;
        ensure!(
            save.wait()?.success(),
            "docker save appos/agent:{version} failed"
        );
        files.push(("/usr/share/appos/appos-agent-image.tar.gz".into(), file));
    }

    // The .deb, by Tauri's bundler (the npm CLI pinned in src-ui), from the binaries built above.
    let files: serde_json::Map<String, serde_json::Value> = files
        .into_iter()
        .map(|(to, from)| (to, serde_json::Value::String(from.display().to_string())))
        .collect();
    let config = serde_json::json!({
        "productName": "appos",
        "bundle": { "active": true, "targets": ["deb"], "linux": { "deb": { "files": files } } }
    });
    let mut bundle = Command::new(ui.join("node_modules/.bin/tauri"));
    bundle
        .args([
            "bundle",
            "--bundles",
            "deb",
            "--config",
            &config.to_string(),
        ])
        .current_dir(root.join("src-tauri"));
    let mut made = bins.join("bundle/deb");
    if debug {
        bundle.arg("--debug");
    }
    if let Some(pgo) = &pgo {
        let host = crate::pgo::host()?;
        bundle
            .args(["--target", &host])
            .env("CARGO_TARGET_DIR", pgo);
        made = pgo.join(&host).join("release/bundle/deb");
    }
    run(&mut bundle)?;
    let deb_name = format!(
        "appos_{version}_{}.deb",
        if arch == "x86_64" { "amd64" } else { "arm64" }
    );
    let deb = dist.join(&deb_name);
    std::fs::copy(made.join(&deb_name), &deb).context("the .deb the bundler made")?;
    std::fs::copy(&appos, dist.join(format!("appos-{version}-linux-{arch}")))?;
    let _ = std::fs::remove_dir_all(&stage);
    println!("{}", deb.display());
    Ok(())
}
