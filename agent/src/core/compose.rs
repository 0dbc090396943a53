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
        let mut v: Vec<&String> = self
            .services
            .iter()
            .filter(|(s, _)| !self.builds.contains(*s))
            .map(|(_, i)| i)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks `.env` variables: shell-style names, single-line values.
pub fn check_env(env: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (k, v) in env {
        let b = k.as_bytes();
        let name_ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphabetic() || b[0] == b'_')
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if !name_ok {
            out.push(err(
                format!("env.{k}"),
                "variable names use letters, digits and _, and do not start with a digit",
            ));
        } else if steers_the_tool(k) {
            out.push(err(format!("env.{k}"), "this name steers the compose tool itself (COMPOSE_*, DOCKER_HOST, ...) or is AppOS's (APPOS_*); choose another"));
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
        return Err(vec![err(
            "compose",
            format!(
                "the compose file is {} bytes; the limit is {MAX_COMPOSE_BYTES}",
                yaml.len()
            ),
        )]);
    }
    let mut doc: Value = match serde_yaml_ng::from_str(yaml) {
        Ok(v) => v,
        Err(e) => return Err(vec![err("compose", format!("not valid YAML: {e}"))]),
    };
    if let Err(e) = doc.apply_merge() {
        return Err(vec![err(
            "compose",
            format!("the merge keys (<<) cannot be applied: {e}"),
        )]);
    }
    let Some(top) = doc.as_mapping() else {
        return Err(vec![err(
            "compose",
            "a compose file is a YAML mapping with a `services` key",
        )]);
    };
    let Some(services) = top.get("services").and_then(Value::as_mapping) else {
        return Err(vec![err(
            "compose.services",
            "a compose file needs a `services` mapping",
        )]);
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
            _ => errors.push(err(
                format!("{field}.image"),
                "each service needs an image, e.g. `nginx:1.27`, or a `build`",
            )),
        }
    }
    if errors.is_empty() {
        Ok(ComposeSummary {
            services: summary,
            builds,
        })
    } else {
        Err(errors)
    }
}

/// How the compose tool reads `.env`: v1 (Python) through python-dotenv,
/// v2 (Go) through compose-go. They differ on quotes, backslashes and `$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvSyntax {
    V1,
    V2,
}

impl EnvSyntax {
    /// The syntax of the compose tool that printed `version` (`1.29.2`, `2.26.1`, `v2.30.0`).
    pub fn of(version: &str) -> EnvSyntax {
        if version.trim_start_matches('v').starts_with("1.") {
            EnvSyntax::V1
        } else {
            EnvSyntax::V2
        }
    }
}

/// Variables v1's `.env` defines for the characters it cannot quote.
const V1_HELPERS: [(&str, char, &str); 3] = [
    ("APPOS_SQ", '\'', "\"'\""),
    ("APPOS_BS", '\\', "\\"),
    ("APPOS_DL", '$', "$"),
];

/// One value as the tool reads it back exactly (values are single lines).
///
/// Single quotes are literal in both tools, except that v1 interpolates
/// `${...}` even there and neither can end a single-quoted value with a
/// backslash nor hold a quote. v1 then spells `'`, `\` and `$` through
/// variables it defines first (it interpolates `${NAME}` from earlier
/// lines); v2 takes double quotes, where `\\`, `\"` and `$$` escape.
fn env_value(v: &str, syntax: EnvSyntax) -> String {
    let plain = !v.contains(['\'', '\\']);
    match syntax {
        EnvSyntax::V1 if plain && !v.contains("${") => format!("'{v}'"),
        EnvSyntax::V1 => {
            let spelled: String = v
                .chars()
                .map(|c| {
                    V1_HELPERS
                        .iter()
                        .find(|(_, h, _)| *h == c)
                        .map(|(n, _, _)| format!("${{{n}}}"))
                        .unwrap_or_else(|| c.to_string())
                })
                .collect();
            format!("'{spelled}'")
        }
        EnvSyntax::V2 if !v.contains('\'') && !v.ends_with('\\') => format!("'{v}'"),
        EnvSyntax::V2 => format!(
            "\"{}\"",
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "$$")
        ),
    }
}

/// Renders `.env` so that the compose tool reads back exactly each value
/// (`$`, `#`, quotes, spaces, backslashes; values were checked to be single lines).
pub fn render_env(env: &BTreeMap<String, String>, syntax: EnvSyntax) -> String {
    let mut out = String::new();
    if syntax == EnvSyntax::V1
        && env
            .values()
            .any(|v| v.contains(['\'', '\\']) || v.contains("${"))
    {
        for (name, _, spelled) in V1_HELPERS {
            out.push_str(&format!("{name}={spelled}\n"));
        }
    }
    for (k, v) in env {
        out.push_str(&format!("{k}={}\n", env_value(v, syntax)));
    }
    out
}

/// Variables that steer the compose tool itself (which daemon, which
/// files, which project) rather than the app, or that AppOS writes.
fn steers_the_tool(k: &str) -> bool {
    k.starts_with("COMPOSE_")
        || k.starts_with("APPOS_")
        || matches!(
            k,
            "DOCKER_HOST"
                | "DOCKER_CONTEXT"
                | "DOCKER_TLS_VERIFY"
                | "DOCKER_CERT_PATH"
                | "DOCKER_CONFIG"
                | "DOCKER_DEFAULT_PLATFORM"
        )
}

/// Replaces each service's image by the reference in `pins` (service →
/// `repo@sha256:…` or a local image id), keeping the rest of the file as
/// written: only the value of each service's `image:` line changes. A file
/// whose images are not plain `image:` lines is re-serialised instead.
pub fn pin_images(yaml: &str, pins: &BTreeMap<String, String>) -> Result<String, String> {
    let summary = inspect(yaml).map_err(|e| format!("{e:?}"))?;
    let wanted: BTreeMap<&String, &String> = summary
        .services
        .keys()
        .filter_map(|s| pins.get(s).map(|p| (s, p)))
        .collect();
    if let Some(missing) = summary.services.keys().find(|s| !pins.contains_key(*s)) {
        return Err(format!("no digest is recorded for service {missing:?}"));
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let meaningful = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let mut out = Vec::new();
    let (mut in_services, mut service_indent, mut current): (
        bool,
        Option<usize>,
        Option<(String, usize)>,
    ) = (false, None, None);
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
                    let key = body
                        .trim()
                        .trim_end_matches(':')
                        .trim_matches(['"', '\''])
                        .to_string();
                    current = Some((key, ind));
                    child_indent = None;
                } else if let Some((svc, _)) = &current {
                    let ci = *child_indent.get_or_insert(ind);
                    if ind == ci {
                        if let Some(rest) = body.trim_start().strip_prefix("image:") {
                            let value = rest
                                .split(" #")
                                .next()
                                .unwrap_or("")
                                .trim()
                                .trim_matches(['"', '\'']);
                            if let Some(pin) = wanted.get(svc).filter(|_| {
                                summary.services.get(svc).map(String::as_str) == Some(value)
                            }) {
                                let comment = rest.find(" #").map(|i| &rest[i..]).unwrap_or("");
                                let eol = &line[body.len()..];
                                replaced =
                                    Some(format!("{}image: {pin}{comment}{eol}", &body[..ind]));
                            }
                        }
                    }
                }
            }
        }
        out.push(replaced.unwrap_or_else(|| line.to_string()));
    }
    let text: String = out.concat();
    let pinned_ok = inspect(&text)
        .map(|s| s.services.iter().all(|(k, v)| pins.get(k) == Some(v)))
        .unwrap_or(false);
    if pinned_ok {
        return Ok(text);
    }
    // Flow style or anchors: edit the parsed document instead.
    let mut doc: Value = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    if let Some(services) = doc.get_mut("services").and_then(Value::as_mapping_mut) {
        for (name, svc) in services.iter_mut() {
            if let (Some(pin), Some(m)) = (
                name.as_str().and_then(|n| pins.get(n)),
                svc.as_mapping_mut(),
            ) {
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
            (
                "services:\n  'bad name!':\n    image: x\n",
                "services.bad name!",
            ),
            ("services: [\n", "compose"),
        ] {
            let e = inspect(yaml).expect_err(yaml);
            assert_eq!(e[0].field, field, "{yaml:?}: {e:?}");
        }
        let big = format!(
            "services:\n  web:\n    image: x\n# {}\n",
            "x".repeat(MAX_COMPOSE_BYTES)
        );
        assert!(inspect(&big).expect_err("too big")[0]
            .message
            .contains("limit"));
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
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(e[0].field, "compose");
        assert!(e[0].message.starts_with("not valid YAML: "), "{e:?}");
        // A big file of ordinary anchors is fine.
        let many = format!(
            "x: &a {{k: v}}\n{}services:\n  web:\n    image: nginx\n    labels: *a\n",
            "# padding\n".repeat(50_000)
        );
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
        for k in ["DOCKER_HOST", "COMPOSE_FILE", "APPOS_SQ"] {
            let e = check_env(&BTreeMap::from([(k.to_string(), "x".to_string())]));
            assert_eq!(e, [err(format!("env.{k}"), "this name steers the compose tool itself (COMPOSE_*, DOCKER_HOST, ...) or is AppOS's (APPOS_*); choose another")]);
        }
        assert!(check_env(&BTreeMap::from([(
            "DOCKER_INFLUXDB_INIT_MODE".to_string(),
            "setup".to_string()
        )]))
        .is_empty());
    }

    #[test]
    fn env_values_are_quoted_for_each_tool() {
        let one = |v: &str, s| render_env(&BTreeMap::from([("K".to_string(), v.to_string())]), s);
        assert_eq!(one("p$ss#w rd\"x", EnvSyntax::V1), "K='p$ss#w rd\"x'\n");
        assert_eq!(one("p$ss#w rd\"x", EnvSyntax::V2), "K='p$ss#w rd\"x'\n");
        assert_eq!(one("it's ${X}\\", EnvSyntax::V1), "APPOS_SQ=\"'\"\nAPPOS_BS=\\\nAPPOS_DL=$\nK='it${APPOS_SQ}s ${APPOS_DL}{X}${APPOS_BS}'\n");
        assert_eq!(one("it's ${X}\\", EnvSyntax::V2), "K=\"it's $${X}\\\\\"\n");
        assert_eq!(EnvSyntax::of("1.29.2"), EnvSyntax::V1);
        assert_eq!(EnvSyntax::of("2.26.1-4"), EnvSyntax::V2);
        assert_eq!(EnvSyntax::of("v2.30.0"), EnvSyntax::V2);
    }

    #[test]
    fn pins_images_in_place() {
        let yaml = "# my stack\nservices:\n  web:\n    image: nginx:1.27 # front\n    ports: [\"80:80\"]\n  db:\n    image: 'mariadb:11'\n    environment:\n      image: not-this\nvolumes:\n  image: {}\n";
        let pins = BTreeMap::from([
            ("web".to_string(), "nginx@sha256:aaa".to_string()),
            ("db".to_string(), "sha256:bbb".to_string()),
        ]);
        let out = pin_images(yaml, &pins).expect("pinned");
        assert_eq!(
            out,
            yaml.replace(
                "image: nginx:1.27 # front",
                "image: nginx@sha256:aaa # front"
            )
            .replace("image: 'mariadb:11'", "image: sha256:bbb")
        );
        // Flow style falls back to a rewritten document with the same meaning.
        let flow = "services: {web: {image: nginx:1.27}, db: {image: mariadb}}\n";
        let out = pin_images(flow, &pins).expect("pinned");
        assert_eq!(inspect(&out).expect("valid").services, pins);
        // A service without a recorded digest cannot be pinned.
        let e = pin_images(
            "services:\n  web:\n    image: x\n  cache:\n    image: redis\n",
            &pins,
        )
        .expect_err("unpinned");
        assert!(e.contains("cache"), "{e}");
    }
}
