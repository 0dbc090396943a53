//! `cargo xtask`: developer tasks.
//!
//! - `gen`: regenerate committed artefacts (OpenAPI document, TypeScript types).
//! - `bench`: run the benchmarks and print ratios against baselines measured in the same run.
//! - `dist`: build the release artifacts (the `.deb`, the CLI, the agent image file).

use std::path::{Path, PathBuf};

use anyhow::Context;

mod bench;
mod bench_backup;
mod bench_desktop;
mod bench_reconnect;
mod dist;
mod pgo;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs a command to its end, an error unless it succeeded.
fn run(cmd: &mut std::process::Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    anyhow::ensure!(status.success(), "{cmd:?} failed ({status})");
    Ok(())
}

/// Where cargo puts builds: `CARGO_TARGET_DIR`, else `<root>/target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Every generated file, with its current content.
fn generated() -> Vec<(PathBuf, String)> {
    let root = root();
    vec![
        (
            root.join("agent/openapi.json"),
            appos_agent::http::openapi_json(),
        ),
        (
            root.join("src-ui/src/api/types.gen.ts"),
            appos_proto::typescript_declarations(),
        ),
        (
            root.join("src-ui/src/api/desktop.gen.ts"),
            appos_proto::typescript_desktop_declarations(),
        ),
        (
            root.join("src-ui/src/api/calls.gen.ts"),
            appos_proto::calls::typescript_call_declarations(),
        ),
    ]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => {
            for (path, content) in generated() {
                std::fs::write(&path, content)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!(
                    "wrote {}",
                    path.strip_prefix(root()).unwrap_or(&path).display()
                );
            }
            Ok(())
        }
        Some("bench") => bench::run(&args[1..]),
        Some("dist") => dist::run_dist(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <gen|bench|dist>");
            std::process::exit(2);
        }
    }
}
