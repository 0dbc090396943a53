//! The agent's layering rule, checked on its source: `http → services →
//! infra → core/error/clock`. Only `http/` (and the composition root
//! `serve.rs` and `main.rs`) may use axum; `infra` never reaches up to a
//! service, the state or `http`; services never reach `http`; the pure
//! bottom layer reaches nothing above it; and no two modules import each
//! other, directly or around a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `http/apps.rs` → `http::apps`; `http/mod.rs` → `http`; `lib.rs` → ``.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The source without comments, so that prose never counts as an import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::…` and `super::…` path a file names, braces expanded one level
/// at a time (`crate::infra::{compose, db::apps}` names both).
fn referenced_paths(code: &str, module: &str) -> Vec<String> {
    let path_re =
        regex::Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(::\{)?").expect("regex");
    let mut out = Vec::new();
    for m in path_re.captures_iter(code) {
        let root = match &m[1] {
            "crate" => String::new(),
            _ => {
                // `super` of `a::b::c` is `a::b` (for `a/b/c/mod.rs` as for `a/b/c.rs`).
                let mut parts: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
                parts.pop();
                parts.join("::")
            }
        };
        let tail = m[2].trim_start_matches("::");
        let base = [root.as_str(), tail]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("::");
        if m.get(3).is_some() {
            // The braced list after the path: up to its matching brace.
            let start = m.get(0).map(|x| x.end()).unwrap_or(0);
            let mut depth = 1;
            let mut end = start;
            for (i, ch) in code[start..].char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = start + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let mut item = String::new();
            let mut d = 0;
            for ch in code[start..end].chars().chain([',']) {
                match ch {
                    '{' => {
                        d += 1;
                        item.push(ch)
                    }
                    '}' => {
                        d -= 1;
                        item.push(ch)
                    }
                    ',' if d == 0 => {
                        let it = item
                            .trim()
                            .split(" as ")
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        let it = it.split("::{").next().unwrap_or("").to_string();
                        if !it.is_empty() && it != "self" {
                            out.push(format!("{base}::{it}"));
                        } else if it == "self" {
                            out.push(base.clone());
                        }
                        item.clear();
                    }
                    _ => item.push(ch),
                }
            }
        } else {
            out.push(base);
        }
    }
    out
}

/// The longest known module that `path` starts with.
fn resolve(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn is_within(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}::"))
}

struct Source {
    module: String,
    rel: PathBuf,
    code: String,
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src()).expect("under src").to_path_buf();
            let text = std::fs::read_to_string(&p).expect("read");
            Source {
                module: module_of(&rel),
                rel,
                code: code_of(&text),
            }
        })
        .collect()
}

#[test]
fn only_http_knows_axum() {
    let offenders: Vec<String> = sources()
        .iter()
        .filter(|s| {
            !s.rel.starts_with("http") && !matches!(s.rel.to_str(), Some("serve.rs" | "main.rs"))
        })
        .filter(|s| s.code.contains("axum"))
        .map(|s| s.rel.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "axum used outside agent/src/http: {offenders:?}"
    );
}

#[test]
fn layers_only_reach_down() {
    let sources = sources();
    let modules: BTreeSet<String> = sources
        .iter()
        .map(|s| s.module.clone())
        .filter(|m| !m.is_empty())
        .collect();
    // (layer, what it may never name)
    let rules: [(&str, &[&str]); 6] = [
        ("infra", &["services", "http", "state", "serve"]),
        ("services", &["http", "serve"]),
        ("core", &["services", "http", "infra", "state", "serve"]),
        ("error", &["services", "http", "infra", "state", "serve"]),
        ("clock", &["services", "http", "infra", "state", "serve"]),
        ("state", &["http", "serve"]),
    ];
    let mut broken = Vec::new();
    for s in sources.iter().filter(|s| s.rel != Path::new("main.rs")) {
        for path in referenced_paths(&s.code, &s.module) {
            let Some(target) = resolve(&path, &modules) else {
                continue;
            };
            for (layer, never) in rules {
                if is_within(&s.module, layer) && never.iter().any(|n| is_within(&target, n)) {
                    broken.push(format!("{} ({}) names {path}", s.rel.display(), s.module));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "the layering rule is broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_import_circles() {
    let sources = sources();
    let modules: BTreeSet<String> = sources
        .iter()
        .map(|s| s.module.clone())
        .filter(|m| !m.is_empty())
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources
        .iter()
        .filter(|s| !s.module.is_empty() && s.rel != Path::new("main.rs"))
    {
        for path in referenced_paths(&s.code, &s.module) {
            let Some(target) = resolve(&path, &modules) else {
                continue;
            };
            // A module and its own submodules are one unit.
            if is_within(&target, &s.module) || is_within(&s.module, &target) {
                continue;
            }
            edges.entry(s.module.clone()).or_default().insert(target);
        }
    }
    assert!(
        edges
            .get("http::apps")
            .is_some_and(|e| e.contains("services::apps")),
        "the scan sees imports: {edges:#?}"
    );
    // Depth-first search for a back edge; report the circle it closes.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|x| x == m) {
            let mut circle = stack[pos..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        if let Some(circle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!(
                "modules import each other in a circle: {}",
                circle.join(" → ")
            );
        }
    }
}

#[test]
fn the_scanner_reads_imports_as_written() {
    let code = "use crate::infra::{compose, db::{self, apps as store}, docker};\nuse super::extract::ApiJson;\nlet x = crate::core::pull::message(a, b);";
    let got = referenced_paths(code, "http::apps");
    assert_eq!(
        got,
        [
            "infra::compose",
            "infra::db",
            "infra::docker",
            "http::extract::ApiJson",
            "core::pull::message"
        ]
    );
    let in_mod = referenced_paths("use super::Registry;", "services::tasks");
    assert_eq!(in_mod, ["services::Registry"]);
}
