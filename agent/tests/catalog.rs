//! Every shipped catalog template renders (defaults and generated secrets)
//! and the compose tool on this machine accepts the result.

use std::collections::BTreeMap;

use appos_agent::services::catalog::{render, Catalog};
use appos_test_support as support;

#[test]
fn every_template_renders_and_the_compose_tool_accepts_it() {
    let have = std::process::Command::new(&support::compose_cmd()[0])
        .arg("version")
        .output()
        .map(|o| o.status.success());
    let probe = if have.unwrap_or(false) {
        Ok(())
    } else {
        Err(anyhow::anyhow!("no compose tool"))
    };
    if support::require("docker-compose", probe).is_none() {
        return;
    }
    let catalog = Catalog::load(&[]);
    let mut n = 0;
    for t in catalog.templates() {
        let r = render(t, &BTreeMap::new()).unwrap_or_else(|e| panic!("{}: {e:?}", t.entry.id));
        let dir = tempfile::tempdir().expect("dir");
        appos_agent::infra::compose::write_app_files(
            dir.path(),
            &r.compose,
            &r.env,
            appos_agent::core::compose::EnvSyntax::V1,
        )
        .expect("write");
        let argv = appos_agent::infra::compose::command(
            &support::compose_cmd(),
            &t.entry.id,
            dir.path(),
            &["config"],
        );
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(dir.path())
            .output()
            .expect("compose");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", t.entry.id);
        // Every ${VARIABLE} the file uses is one of its parameters.
        assert!(!stderr.contains("is not set"), "{}: {stderr}", t.entry.id);
        n += 1;
    }
    assert!(n >= 30, "{n} templates");
}

/// A catalog directory from a hostile repository: symbolic links (to a
/// secret, to an endless device), oversized files and a FIFO are skipped
/// with a reason, quickly, and the good template next to them loads.
#[test]
fn hostile_template_files_are_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let good = "id = \"good\"\nname = \"Good\"\ndescription = \"d\"\ncategory = \"c\"\nwebsite = \"https://example.com\"\n\ncompose = \"\"\"\nservices:\n  web:\n    image: nginx:1.27\n\"\"\"\n";
    std::fs::write(dir.path().join("good.toml"), good).expect("write");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "root:$6$hash:19000:0:99999:7:::\n").expect("write");
    std::os::unix::fs::symlink(&secret, dir.path().join("shadow.toml")).expect("symlink");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.toml")).expect("symlink");
    std::fs::write(dir.path().join("huge.toml"), "x".repeat(300 << 10)).expect("write");
    let fifo = dir.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());

    let started = std::time::Instant::now();
    let catalog = Catalog::load(&[dir.path().to_path_buf()]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "loading took {:?}",
        started.elapsed()
    );
    assert!(catalog.get("good").is_some(), "the good template loads");
    let skipped = catalog.skipped().join("\n");
    let p = |f: &str| dir.path().join(f).display().to_string();
    for want in [
        format!(
            "{}: not a regular file (symbolic links are not followed)",
            p("fifo.toml")
        ),
        format!(
            "{}: 307200 bytes; templates are limited to 262144",
            p("huge.toml")
        ),
        format!(
            "{}: not a regular file (symbolic links are not followed)",
            p("shadow.toml")
        ),
        format!(
            "{}: not a regular file (symbolic links are not followed)",
            p("zero.toml")
        ),
    ] {
        assert!(
            skipped.lines().any(|l| l == want),
            "{want:?} missing from\n{skipped}"
        );
    }
    assert!(
        !skipped.contains("root:"),
        "the linked file's content leaked: {skipped}"
    );
}
