//! Every shipped catalog template renders (defaults and generated secrets)
//! and the compose tool on this machine accepts the result.

use std::collections::BTreeMap;

use appos_agent::catalog::{render, Catalog};
use appos_test_support as support;

#[test]
fn every_template_renders_and_the_compose_tool_accepts_it() {
    let have = std::process::Command::new(&support::compose_cmd()[0]).arg("version").output().map(|o| o.status.success());
    let probe = if have.unwrap_or(false) { Ok(()) } else { Err(anyhow::anyhow!("no compose tool")) };
    if support::require("docker-compose", probe).is_none() {
        return;
    }
    let catalog = Catalog::load(None);
    let mut n = 0;
    for t in catalog.templates() {
        let r = render(t, &BTreeMap::new()).unwrap_or_else(|e| panic!("{}: {e:?}", t.entry.id));
        let dir = tempfile::tempdir().expect("dir");
        appos_agent::deploy::write_app_files(dir.path(), &r.compose, &r.env).expect("write");
        let argv = appos_agent::compose::command(&support::compose_cmd(), &t.entry.id, dir.path(), &["config", "-q"]);
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).current_dir(dir.path()).output().expect("compose");
        assert!(out.status.success(), "{}: {}", t.entry.id, String::from_utf8_lossy(&out.stderr));
        // Every ${VARIABLE} the file uses is a parameter.
        let cfg = std::process::Command::new(&argv[0])
            .args(&argv[1..argv.len() - 1])
            .current_dir(dir.path())
            .output()
            .expect("compose config");
        assert!(!String::from_utf8_lossy(&cfg.stderr).contains("is not set"), "{}: {}", t.entry.id, String::from_utf8_lossy(&cfg.stderr));
        n += 1;
    }
    assert!(n >= 10, "{n} templates");
}
