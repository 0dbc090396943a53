//! The desktop as shipped: a release build optimised with a profile of its
//! own start (profile-guided optimisation, rustc's `-Cprofile-generate` and
//! `-Cprofile-use`).
//!
//! Why: the app maps its code pages as it runs them, and the kernel maps the
//! neighbours of each page it faults in. In a plain build the functions run
//! at start are spread across all 22 MB of code, and about 10 MB of it ends
//! up mapped. With a profile, LLVM optimises the code a session never runs
//! for size (17 MB of code in all) and lays out what it runs tighter: 7.5 MB
//! mapped, and a faster start.
//!
//! The training also records the order in which functions first run
//! (LLVM's temporal profiling), and the linker lays the code out in that
//! order (`--symbol-ordering-file`): what the start runs sits together at
//! the front. 5.8 MB of the 17.7 MB of code is mapped on the apps list,
//! against 7.5 MB without the order.
//!
//! Not done: linking with `-z keep-text-section-prefix`, which puts LLVM's
//! `.text.unlikely` apart. Code run once at start counts as cold too, so it
//! landed among the never-run code and 11.7 MB got mapped.
//!
//! Steps, each in its own target dir so builds stay cached between runs:
//! 1. an instrumented build (`<target>/pgo-train`), which writes its counters
//!    when it exits (the training ends it with SIGTERM, which it handles);
//! 2. the training: the bench's own session (start, apps list, a terminal,
//!    keys typed) against that build, under Xvfb;
//! 3. `llvm-profdata merge` (from `rustup component add llvm-tools`), then
//!    `llvm-profdata order` for the functions' first-run order;
//! 4. the optimised build (`<target>/pgo`), which `dist` packages and
//!    `bench desktop` measures.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context as _};

/// The host triple: builds name it so RUSTFLAGS leave build scripts and
/// proc macros alone.
pub fn host() -> anyhow::Result<String> {
    let out = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8(out.stdout)?
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV names no host")
}

fn llvm_profdata(host: &str) -> anyhow::Result<PathBuf> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()?;
    let tool = PathBuf::from(String::from_utf8(out.stdout)?.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/llvm-profdata");
    ensure!(
        tool.is_file(),
        "{} is missing: install it with `rustup component add llvm-tools`",
        tool.display()
    );
    Ok(tool)
}

fn cargo_build(root: &Path, target_dir: &Path, host: &str, rustflags: &str) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "appos-desktop",
            "--target",
            host,
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", rustflags)
        .current_dir(root)
        .status()?
        .success();
    ensure!(ok, "building the desktop ({rustflags}) failed");
    Ok(())
}

/// Where the optimised build goes, under cargo's target dir `target`.
pub fn out_dir(target: &Path) -> PathBuf {
    target.join("pgo")
}

/// Builds the desktop with a fresh profile of its start; returns its binary.
/// The frontend must be built already (the binary embeds it).
pub async fn build_desktop(root: &Path, target: &Path) -> anyhow::Result<PathBuf> {
    let host = host()?;
    let profdata = llvm_profdata(&host)?;
    let profiles = target.join("pgo-profiles");
    let _ = std::fs::remove_dir_all(&profiles);
    std::fs::create_dir_all(&profiles)?;

    let train_dir = target.join("pgo-train");
    cargo_build(
        root,
        &train_dir,
        &host,
        &format!(
            "-Cprofile-generate={} -Cllvm-args=-pgo-temporal-instrumentation",
            profiles.display()
        ),
    )?;
    let trainee = train_dir.join(&host).join("release/appos-desktop");
    println!("pgo: training {}", trainee.display());
    crate::bench_desktop::session(
        &trainee,
        &[(
            "LLVM_PROFILE_FILE",
            profiles.join("desktop-%p.profraw").display().to_string(),
        )],
        false,
    )
    .await
    .context("the training session")?;

    let raw: Vec<PathBuf> = std::fs::read_dir(&profiles)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "profraw"))
        .collect();
    ensure!(!raw.is_empty(), "the training wrote no profile");
    let merged = profiles.join("desktop.profdata");
    crate::run(
        Command::new(&profdata)
            .arg("merge")
            // The whole start's first calls, not the default first 10,000.
            .arg("--temporal-profile-max-trace-length=1000000")
            .arg("-o")
            .arg(&merged)
            .args(&raw),
    )?;
    let order = profiles.join("desktop.order");
    crate::run(
        Command::new(&profdata)
            .arg("order")
            .arg(&merged)
            .arg("-o")
            .arg(&order),
    )?;

    let out_dir = out_dir(target);
    cargo_build(
        root,
        &out_dir,
        &host,
        &format!(
            "-Cprofile-use={} -Clink-arg=-Wl,--symbol-ordering-file={} -Clink-arg=-Wl,--no-warn-symbol-ordering",
            merged.display(),
            order.display()
        ),
    )?;
    Ok(out_dir.join(&host).join("release/appos-desktop"))
}
