//! Rendering for humans (tables) and for scripts (JSON).

use appos_client::profile::ServerProfile;
use appos_proto::App;
use comfy_table::{presets::NOTHING, Table};
use serde_json::json;

pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING).set_header(header.iter().map(|h| h.to_string()));
    t
}

pub fn apps_table(apps: &[App]) {
    if apps.is_empty() {
        eprintln!("no apps on this server yet");
        return;
    }
    let mut t = table(&["NAME", "STATE", "MANAGED", "SERVICES", "PORTS"]);
    for a in apps {
        let services: Vec<&str> = a.services.iter().map(|s| s.name.as_str()).collect();
        t.add_row(vec![
            a.name.clone(),
            crate::state_word(a).to_string(),
            if a.managed { "yes" } else { "no" }.to_string(),
            services.join(","),
            crate::app_ports(a),
        ]);
    }
    println!("{t}");
}

pub fn servers_table(rows: &[(String, ServerProfile)], current: Option<&str>) {
    if rows.is_empty() {
        eprintln!("no servers yet: add one with `appos server add NAME ssh://USER@HOST`");
        return;
    }
    let mut t = table(&["", "NAME", "URL", "HOST KEY"]);
    for (name, p) in rows {
        t.add_row(vec![
            if Some(name.as_str()) == current { "*" } else { "" }.to_string(),
            name.clone(),
            p.url.clone(),
            p.host_key.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{t}");
}

pub fn servers_json(rows: &[(String, ServerProfile)], current: Option<&str>) -> anyhow::Result<()> {
    let list: Vec<_> = rows
        .iter()
        .map(|(name, p)| {
            json!({
                "name": name,
                "url": p.url,
                "current": Some(name.as_str()) == current,
                "host_key": p.host_key,
                "identity": p.identity,
                "agent_socket": p.agent_socket,
            })
        })
        .collect();
    json(&list)
}

pub fn deployments_table(ds: &[appos_proto::Deployment]) {
    if ds.is_empty() {
        eprintln!("no deployments yet");
        return;
    }
    let mut t = table(&["ID", "APP", "VERSION", "STATE", "ATTEMPT", "DURATION", "ERROR"]);
    for d in ds {
        let took = d.finished_ms.map(|f| format!("{:.1}s", (f - d.created_ms) as f64 / 1000.0)).unwrap_or_else(|| "…".into());
        t.add_row(vec![
            d.id.clone(),
            d.app.clone(),
            d.version.to_string(),
            d.state.as_str().to_string(),
            d.attempt.to_string(),
            took,
            d.error.clone().unwrap_or_default().chars().take(60).collect(),
        ]);
    }
    println!("{t}");
}

pub fn tokens_table(tokens: &[appos_proto::calls::TokenInfo]) {
    let when = |t: Option<i64>| t.map(crate::deploy::time_of).unwrap_or_else(|| "-".into());
    let mut t = table(&["NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"]);
    for k in tokens {
        t.add_row(vec![k.name.clone(), k.scope.as_str().to_string(), crate::deploy::time_of(k.created_at), when(k.last_used_at), when(k.revoked_at)]);
    }
    println!("{t}");
}
