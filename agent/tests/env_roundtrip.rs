//! `.env` values round-trip through the real compose tools: hostile
//! passwords (quotes, `$`, `${...}`, `#`, backslashes, spaces) written by
//! the agent for compose v1 and for compose v2 come back exactly as given
//! when each tool interpolates them.

use std::collections::BTreeMap;
use std::path::Path;

use appos_agent::core::compose::EnvSyntax;
use appos_test_support as support;

fn hostile() -> BTreeMap<String, String> {
    [
        "p$ss#w rd\"x",
        "it's \"q\" \\ $$HOME $X ${Y}",
        "a\\\\b",
        "x\\y",
        "ends\\",
        "'quoted'",
        " lead and trail ",
        "#hash",
        "$",
        "${A0}",
        "$(reboot)",
        "back\\'slash",
        "",
        "tab\there",
        "=eq=",
        "\\n not a newline",
        "ünï©ødé",
        "a \\\" b",
        "`id`",
        "${X:-default}",
    ]
    .iter()
    .enumerate()
    .map(|(i, v)| (format!("A{i}"), v.to_string()))
    .collect()
}

/// Runs `tool config` on a compose file that passes every variable to the
/// environment, and returns what it resolved (with `$$` read back as `$`).
fn resolved(
    tool: &[String],
    json: bool,
    env: &BTreeMap<String, String>,
    syntax: EnvSyntax,
) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("dir");
    let vars: String = env
        .keys()
        .map(|k| format!("      {k}: \"${{{k}}}\"\n"))
        .collect();
    let compose = format!("services:\n  web:\n    image: busybox\n    environment:\n{vars}");
    appos_agent::infra::compose::write_app_files(dir.path(), &compose, env, syntax).expect("write");
    let mut args = vec!["config"];
    if json {
        args.extend(["--format", "json"]);
    }
    let argv = appos_agent::infra::compose::command(tool, "roundtrip", dir.path(), &args);
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(dir.path())
        .output()
        .expect("compose");
    assert!(
        out.status.success(),
        "{argv:?}: {}\n.env:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.path().join(".env")).unwrap_or_default()
    );
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&out.stdout).expect("config output");
    let environment = doc["services"]["web"]["environment"]
        .as_mapping()
        .expect("environment")
        .clone();
    environment
        .into_iter()
        .map(|(k, v)| {
            (
                k.as_str().expect("key").to_string(),
                v.as_str().unwrap_or_default().replace("$$", "$"),
            )
        })
        .collect()
}

#[test]
fn env_values_round_trip_through_compose_v1() {
    let v1 = vec!["docker-compose".to_string()];
    let ok = std::process::Command::new(&v1[0])
        .args(["version", "--short"])
        .output();
    let version = match ok {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => String::new(),
    };
    let probe = if version.starts_with("1.") {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "docker-compose v1 not found (got {version:?})"
        ))
    };
    if support::require("docker-compose v1", probe).is_none() {
        return;
    }
    assert_eq!(resolved(&v1, false, &hostile(), EnvSyntax::V1), hostile());
}

#[test]
fn env_values_round_trip_through_compose_v2() {
    let path = std::env::var("APPOS_COMPOSE_V2").unwrap_or_default();
    let probe = if !path.is_empty() && Path::new(&path).is_file() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "APPOS_COMPOSE_V2 names no docker-compose v2 binary"
        ))
    };
    if support::require("docker-compose v2", probe).is_none() {
        return;
    }
    assert_eq!(
        resolved(&[path], true, &hostile(), EnvSyntax::V2),
        hostile()
    );
}
