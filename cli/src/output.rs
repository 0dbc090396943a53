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
    t.load_preset(NOTHING)
        .set_header(header.iter().map(|h| h.to_string()));
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

/// Bytes as people read them (KiB, MiB, GiB: powers of 1024).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `appos top`: a row per running container, busiest first.
pub fn top_table(apps: &[appos_proto::AppStats]) {
    let mut rows: Vec<(&str, &appos_proto::ContainerStats)> = apps
        .iter()
        .flat_map(|a| a.containers.iter().map(move |c| (a.app.as_str(), c)))
        .collect();
    if rows.is_empty() {
        eprintln!("no running containers");
        return;
    }
    let cpu = |c: &appos_proto::ContainerStats| c.latest.as_ref().map_or(-1.0, |l| l.cpu_percent);
    rows.sort_by(|a, b| {
        cpu(b.1)
            .total_cmp(&cpu(a.1))
            .then_with(|| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)))
    });
    let mut t = table(&[
        "APP",
        "SERVICE",
        "CONTAINER",
        "CPU %",
        "MEMORY",
        "NET RX / TX",
    ]);
    for (app, c) in rows {
        let (cpu, mem, net) = match &c.latest {
            Some(l) => (
                format!("{:.1}", l.cpu_percent),
                format!(
                    "{} / {}",
                    bytes(l.memory_bytes),
                    bytes(l.memory_limit_bytes)
                ),
                format!("{} / {}", bytes(l.net_rx_bytes), bytes(l.net_tx_bytes)),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        t.add_row(vec![
            app.to_string(),
            c.service.clone(),
            c.name.clone(),
            cpu,
            mem,
            net,
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
            if Some(name.as_str()) == current {
                "*"
            } else {
                ""
            }
            .to_string(),
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
    let mut t = table(&[
        "ID", "APP", "VERSION", "STATE", "ATTEMPT", "DURATION", "ERROR",
    ]);
    for d in ds {
        let took = d
            .finished_ms
            .map(|f| format!("{:.1}s", (f - d.created_ms) as f64 / 1000.0))
            .unwrap_or_else(|| "…".into());
        t.add_row(vec![
            d.id.clone(),
            d.app.clone(),
            d.version.to_string(),
            d.state.as_str().to_string(),
            d.attempt.to_string(),
            took,
            d.error
                .clone()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect(),
        ]);
    }
    println!("{t}");
}

pub fn tokens_table(tokens: &[appos_proto::calls::TokenInfo]) {
    let when = |t: Option<i64>| t.map(crate::deploy::time_of).unwrap_or_else(|| "-".into());
    let mut t = table(&["NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"]);
    for k in tokens {
        t.add_row(vec![
            k.name.clone(),
            k.scope.as_str().to_string(),
            crate::deploy::time_of(k.created_at),
            when(k.last_used_at),
            when(k.revoked_at),
        ]);
    }
    println!("{t}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_read_as_people_read_them() {
        for (n, s) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (48 << 20, "48.0 MiB"),
            (3 << 30, "3.0 GiB"),
        ] {
            assert_eq!(super::bytes(n), s, "{n}");
        }
    }
}
