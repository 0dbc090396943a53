//! Every shipped catalog template renders (defaults and generated secrets)
//! and the compose tool on this machine accepts the result.

use std::collections::BTreeMap;

use appos_agent::services::catalog::{render, Catalog};
use appos_test_support as support;

#[test]
fn every_template_renders_and_the_compose_tool_accepts_it() {
    let have = std::process::Command::new(&support::compose_cmd()[0]).arg("version").output().map(|o| o.status.success());
    let probe = if have.unwrap_or(false) { Ok(()) } else { Err(anyhow::anyhow!("no compose tool")) };
    if support::require("docker-compose", probe).is_none() {
        return;
    }
    let catalog = Catalog::load(&[]);
    let mut n = 0;
    for t in catalog.templates() {
        let r = render(t, &BTreeMap::new()).unwrap_or_else(|e| panic!("{}: {e:?}", t.entry.id));
        let dir = tempfile::tempdir().expect("dir");
        appos_agent::infra::compose::write_app_files(dir.path(), &r.compose, &r.env).expect("write");
        let argv = appos_agent::infra::compose::command(&support::compose_cmd(), &t.entry.id, dir.path(), &["config"]);
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).current_dir(dir.path()).output().expect("compose");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", t.entry.id);
        // Every ${VARIABLE} the file uses is one of its parameters.
        assert!(!stderr.contains("is not set"), "{}: {stderr}", t.entry.id);
        n += 1;
    }
    assert!(n >= 30, "{n} templates");
}
