//! `.dockerignore`, applied as Docker applies it (moby's patternmatcher):
//! each line a pattern relative to the context's root (a leading `/` or
//! `./` changes nothing), `#` comments, `!` exceptions, `*` and `?` within
//! one path part, `**` across parts, `[...]` classes, `\` escapes. A path
//! is excluded when the last pattern that matches it, or one of its parent
//! folders, is not an exception.

use regex::Regex;

struct Rule {
    re: Regex,
    exception: bool,
}

/// The rules of one `.dockerignore`.
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

/// Go's `filepath.Clean` for a relative, `/`-separated pattern.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// The regular expression of one pattern, as moby translates it.
fn translate(pattern: &str) -> Result<Regex, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    // `**/` matches zero or more folders.
                    i += 1;
                    re.push_str("(.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => {
                i += 1;
                let next = chars
                    .get(i)
                    .ok_or_else(|| format!("{pattern:?} ends with a backslash"))?;
                re.push_str(&regex::escape(&next.to_string()));
            }
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| format!("{pattern:?} has an unterminated ["))?;
                let class: String = chars[i + 1..i + 1 + end].iter().collect();
                let class = class
                    .strip_prefix('^')
                    .map(|c| format!("^{}", c.replace('\\', "\\\\")))
                    .unwrap_or_else(|| class.replace('\\', "\\\\"));
                re.push('[');
                re.push_str(&class);
                re.push(']');
                i += end + 1;
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Regex::new(&re).map_err(|e| format!("{pattern:?}: {e}"))
}

impl DockerIgnore {
    /// Parses a `.dockerignore` file's text.
    pub fn parse(text: &str) -> Result<DockerIgnore, String> {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            if pattern.is_empty() {
                return Err("a line holds only `!`".into());
            }
            let pattern = clean(pattern.trim_start_matches('/'));
            rules.push(Rule {
                re: translate(&pattern)?,
                exception,
            });
        }
        Ok(DockerIgnore { rules })
    }

    /// Whether `path` (relative to the context's root, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for r in &self.rules {
            if r.re.is_match(path) || parents.iter().any(|p| r.re.is_match(p)) {
                excluded = !r.exception;
            }
        }
        excluded
    }

    /// Whether a folder can be skipped whole: it is excluded and no exception could bring back a file in it.
    pub fn prunes(&self, dir: &str) -> bool {
        self.excludes(dir) && !self.rules.iter().any(|r| r.exception)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_as_docker_reads_them() {
        let ig = DockerIgnore::parse("# deps\nnode_modules\n/.git\n*.log\n!keep.log\ndocs/**/*.md\n!docs/README.md\nbuild/\ntmp?\n[abc].txt\n**/secret.*\n").expect("parse");
        for (path, excluded) in [
            ("node_modules", true),
            ("node_modules/x/index.js", true),
            ("src/node_modules/x.js", false), // anchored at the root, unlike .gitignore
            (".git/config", true),
            ("app.log", true),
            ("keep.log", false),
            ("logs/app.log", false), // `*` does not cross `/`
            ("docs/a.md", true),
            ("docs/deep/er/b.md", true),
            ("docs/README.md", false),
            ("build/out.bin", true),
            ("tmp1", true),
            ("tmp12", false),
            ("a.txt", true),
            ("d.txt", false),
            ("secret.env", true),
            ("config/secret.json", true),
            ("src/main.rs", false),
            ("Dockerfile", false),
        ] {
            assert_eq!(ig.excludes(path), excluded, "{path}");
        }
        assert!(
            !ig.prunes("node_modules"),
            "an exception might bring a file back"
        );
        assert!(DockerIgnore::parse("target\n")
            .expect("parse")
            .prunes("target"));
        assert!(DockerIgnore::parse("!\n").is_err());
        assert!(DockerIgnore::parse("[abc\n").is_err());
        assert_eq!(clean("./a/../b/./c/"), "b/c");
    }
}
