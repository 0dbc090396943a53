//! Compose files as AppOS accepts them: parsed and checked before anything is
//! written (size, shape, service names, images, `.env` keys and values).
//! Pure: running the compose tool is `infra::compose`; what a file may reach
//! on the server is `core::host_access`.

use std::collections::BTreeMap;

use appos_proto::FieldError;
use serde_yaml_ng::Value;

/// Largest compose file accepted.
pub const MAX_COMPOSE_BYTES: usize = 1 << 20;

/// What the agent needs to know of a valid compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeSummary {
    /// Service name → image (empty for a service built without an image name).
    pub services: BTreeMap<String, String>,
    /// The services built on the server (`build:`), whose images are not pulled.
    pub builds: std::collections::BTreeSet<String>,
}

impl ComposeSummary {
    /// The images to pull: those of the services not built here, each once, sorted.
    pub fn images(&self) -> Vec<&String> {
        let mut v: Vec<&String> = self.services.iter().filter(|(s, _)| !self.builds.contains(*s)).map(|(_, i)| i).collect();
        v.sort();
        v.dedup();
        v
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}


/// Checks `.env` variables: shell-style names, single-line values.
pub fn check_env(env: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (k, v) in env {
        let b = k.as_bytes();
        let name_ok = !b.is_empty() && b.len() <= 128 && (b[0].is_ascii_alphabetic() || b[0] == b'_') && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if !name_ok {
            out.push(err(format!("env.{k}"), "variable names use letters, digits and _, and do not start with a digit"));
        }
        if v.contains(['\n', '\r', '\0']) {
            out.push(err(format!("env.{k}"), "values must be a single line"));
        }
        if v.len() > 64 * 1024 {
            out.push(err(format!("env.{k}"), "values are limited to 64 KiB"));
        }
    }
    out
}

/// Parses and checks a compose file's shape: services with valid names and
/// an image each. All problems are reported at once. What it may reach on
/// the server is judged on the resolved model (`core::host_access`).
pub fn inspect(yaml: &str) -> Result<ComposeSummary, Vec<FieldError>> {
    if yaml.len() > MAX_COMPOSE_BYTES {
        return Err(vec![err("compose", format!("the compose file is {} bytes; the limit is {MAX_COMPOSE_BYTES}", yaml.len()))]);
    }
    let mut doc: Value = match serde_yaml_ng::from_str(yaml) {
        Ok(v) => v,
        Err(e) => return Err(vec![err("compose", format!("not valid YAML: {e}"))]),
    };
    if let Err(e) = doc.apply_merge() {
        return Err(vec![err("compose", format!("the merge keys (<<) cannot be applied: {e}"))]);
    }
    let Some(top) = doc.as_mapping() else {
        return Err(vec![err("compose", "a compose file is a YAML mapping with a `services` key")]);
    };
    let Some(services) = top.get("services").and_then(Value::as_mapping) else {
        return Err(vec![err("compose.services", "a compose file needs a `services` mapping")]);
    };
    if services.is_empty() {
        return Err(vec![err("compose.services", "no services")]);
    }
    let mut errors = Vec::new();
    let mut summary = BTreeMap::new();
    let mut builds = std::collections::BTreeSet::new();
    for (name, svc) in services {
        let Some(name) = name.as_str() else {
            errors.push(err("compose.services", "service names are strings"));
            continue;
        };
        let field = format!("services.{name}");
        if appos_proto::ServiceName::parse(name).is_err() {
            errors.push(err(&field, appos_proto::ServiceName::RULE));
            continue;
        }
        let Some(svc) = svc.as_mapping() else {
            errors.push(err(&field, "a service is a mapping"));
            continue;
        };
        let built = svc.contains_key("build");
        if built {
            builds.insert(name.to_string());
        }
        match svc.get("image").and_then(Value::as_str) {
            Some(img) if !img.trim().is_empty() && !img.contains(char::is_whitespace) => {
                summary.insert(name.to_string(), img.to_string());
            }
            None if built => {
                summary.insert(name.to_string(), String::new());
            }
            _ => errors.push(err(format!("{field}.image"), "each service needs an image, e.g. `nginx:1.27`, or a `build`")),
        }
    }
    if errors.is_empty() {
        Ok(ComposeSummary { services: summary, builds })
    } else {
        Err(errors)
    }
}

/// Renders `.env`: one `KEY=VALUE` per line (values were checked to be single lines).
pub fn render_env(env: &BTreeMap<String, String>) -> String {
    env.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// Replaces each service's image by the reference in `pins` (service →
/// `repo@sha256:…` or a local image id), keeping the rest of the file as
/// written: only the value of each service's `image:` line changes. A file
/// whose images are not plain `image:` lines is re-serialised instead.
pub fn pin_images(yaml: &str, pins: &BTreeMap<String, String>) -> Result<String, String> {
    let summary = inspect(yaml).map_err(|e| format!("{e:?}"))?;
    let wanted: BTreeMap<&String, &String> = summary.services.keys().filter_map(|s| pins.get(s).map(|p| (s, p))).collect();
    if let Some(missing) = summary.services.keys().find(|s| !pins.contains_key(*s)) {
        return Err(format!("no digest is recorded for service {missing:?}"));
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let meaningful = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let mut out = Vec::new();
    let (mut in_services, mut service_indent, mut current): (bool, Option<usize>, Option<(String, usize)>) = (false, None, None);
    let mut child_indent: Option<usize> = None;
    for line in yaml.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let mut replaced = None;
        if meaningful(body) {
            let ind = indent(body);
            if ind == 0 {
                in_services = body.trim_end() == "services:";
                service_indent = None;
                current = None;
            } else if in_services {
                let si = *service_indent.get_or_insert(ind);
                if ind == si {
                    let key = body.trim().trim_end_matches(':').trim_matches(['"', '\'']).to_string();
                    current = Some((key, ind));
                    child_indent = None;
                } else if let Some((svc, _)) = &current {
                    let ci = *child_indent.get_or_insert(ind);
                    if ind == ci {
                        if let Some(rest) = body.trim_start().strip_prefix("image:") {
                            let value = rest.split(" #").next().unwrap_or("").trim().trim_matches(['"', '\'']);
                            if let Some(pin) = wanted.get(svc).filter(|_| summary.services.get(svc).map(String::as_str) == Some(value)) {
                                let comment = rest.find(" #").map(|i| &rest[i..]).unwrap_or("");
                                let eol = &line[body.len()..];
                                replaced = Some(format!("{}image: {pin}{comment}{eol}", &body[..ind]));
                            }
                        }
                    }
                }
            }
        }
        out.push(replaced.unwrap_or_else(|| line.to_string()));
    }
    let text: String = out.concat();
    let pinned_ok = inspect(&text).map(|s| s.services.iter().all(|(k, v)| pins.get(k) == Some(v))).unwrap_or(false);
    if pinned_ok {
        return Ok(text);
    }
    // Flow style or anchors: edit the parsed document instead.
    let mut doc: Value = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    if let Some(services) = doc.get_mut("services").and_then(Value::as_mapping_mut) {
        for (name, svc) in services.iter_mut() {
            if let (Some(pin), Some(m)) = (name.as_str().and_then(|n| pins.get(n)), svc.as_mapping_mut()) {
                m.insert(Value::from("image"), Value::from(pin.as_str()));
            }
        }
    }
    serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_plain_stack() {
        let s = inspect("services:\n  web:\n    image: nginx:1.27\n    volumes: [\"./html:/usr/share/nginx/html:ro\", \"data:/data\"]\n  db:\n    image: mariadb\nvolumes:\n  data: {}\n")
            .expect("valid");
        assert_eq!(s.services.len(), 2);
        assert_eq!(s.services["web"], "nginx:1.27");
    }

    #[test]
    fn reports_every_problem() {
        let errs = inspect("services:\n  web:\n    environment: {}\n  db:\n    image: 'two words'\n  ok:\n    image: mariadb\n").expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["services.web.image", "services.db.image"]);
        // A built service needs no image; its image is not pulled.
        let s = inspect("services:\n  web:\n    build: ./web\n  api:\n    build: ./api\n    image: me/api:1\n  db:\n    image: mariadb\n").expect("valid");
        assert_eq!(s.images(), ["mariadb"]);
        assert_eq!(s.builds.iter().collect::<Vec<_>>(), ["api", "web"]);
    }

    #[test]
    fn refuses_bad_shapes() {
        for (yaml, field) in [
            ("", "compose"),
            ("- a\n- b\n", "compose"),
            ("services: 3\n", "compose.services"),
            ("services: {}\n", "compose.services"),
            ("services:\n  web: [1]\n", "services.web"),
            ("services:\n  'bad name!':\n    image: x\n", "services.bad name!"),
            ("services: [\n", "compose"),
        ] {
            let e = inspect(yaml).expect_err(yaml);
            assert_eq!(e[0].field, field, "{yaml:?}: {e:?}");
        }
        let big = format!("services:\n  web:\n    image: x\n# {}\n", "x".repeat(MAX_COMPOSE_BYTES));
        assert!(inspect(&big).expect_err("too big")[0].message.contains("limit"));
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        // Nine levels of ten aliases each: a few hundred bytes that expand to 10^9 nodes.
        let mut yaml = String::from("x0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
        for i in 1..10 {
            let p = i - 1;
            yaml.push_str(&format!("x{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        yaml.push_str("services:\n  web:\n    image: nginx\n    command: *a9\n");
        let started = std::time::Instant::now();
        let e = inspect(&yaml).expect_err("refused");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
        assert_eq!(e[0].field, "compose");
        assert!(e[0].message.starts_with("not valid YAML: "), "{e:?}");
        // A big file of ordinary anchors is fine.
        let many = format!("x: &a {{k: v}}\n{}services:\n  web:\n    image: nginx\n    labels: *a\n", "# padding\n".repeat(50_000));
        assert!(inspect(&many).is_ok());
    }

    #[test]
    fn env_rules() {
        let mut env = BTreeMap::new();
        env.insert("GOOD_1".to_string(), "v a l".to_string());
        assert!(check_env(&env).is_empty());
        env.insert("1BAD".to_string(), "x".to_string());
        env.insert("MULTI".to_string(), "a\nINJECTED=1".to_string());
        let errs = check_env(&env);
        assert_eq!(errs.len(), 2);
        assert_eq!(render_env(&BTreeMap::from([("A".to_string(), "1".to_string())])), "A=1\n");
    }

    #[test]
    fn pins_images_in_place() {
        let yaml = "# my stack\nservices:\n  web:\n    image: nginx:1.27 # front\n    ports: [\"80:80\"]\n  db:\n    image: 'mariadb:11'\n    environment:\n      image: not-this\nvolumes:\n  image: {}\n";
        let pins = BTreeMap::from([
            ("web".to_string(), "nginx@sha256:aaa".to_string()),
            ("db".to_string(), "sha256:bbb".to_string()),
        ]);
        let out = pin_images(yaml, &pins).expect("pinned");
        assert_eq!(out, yaml.replace("image: nginx:1.27 # front", "image: nginx@sha256:aaa # front").replace("image: 'mariadb:11'", "image: sha256:bbb"));
        // Flow style falls back to a rewritten document with the same meaning.
        let flow = "services: {web: {image: nginx:1.27}, db: {image: mariadb}}\n";
        let out = pin_images(flow, &pins).expect("pinned");
        assert_eq!(inspect(&out).expect("valid").services, pins);
        // A service without a recorded digest cannot be pinned.
        let e = pin_images("services:\n  web:\n    image: x\n  cache:\n    image: redis\n", &pins).expect_err("unpinned");
        assert!(e.contains("cache"), "{e}");
    }
}
