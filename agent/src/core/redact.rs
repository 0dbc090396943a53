//! Credentials never reach a log or an answer: the user info of every URL
//! in a text (`https://user:token@host/…`, `redis://:password@host`) is
//! replaced before the text goes out.

/// `text` with the user info of each `scheme://user[:password]@` replaced by `***`.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#', whitespace or quote.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '\'' | '"' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_info_is_hidden() {
        for (text, want) in [
            (
                "https://github.com/acme/t.git",
                "https://github.com/acme/t.git",
            ),
            (
                "https://ada:ghp_s3cret@github.com/acme/t.git",
                "https://***@github.com/acme/t.git",
            ),
            (
                "fatal: unable to access 'https://x-token:abc@git.example/r/': 403",
                "fatal: unable to access 'https://***@git.example/r/': 403",
            ),
            (
                "redis://:hunter2@10.0.0.3:6379/0",
                "redis://***@10.0.0.3:6379/0",
            ),
            (
                "ssh://git@host/r and https://u:p@h?q=1",
                "ssh://***@host/r and https://***@h?q=1",
            ),
            ("user@host:path, no scheme", "user@host:path, no scheme"),
            (
                "https://h/p?next=https://a:b@c",
                "https://h/p?next=https://***@c",
            ),
            ("ends with ://", "ends with ://"),
        ] {
            assert_eq!(super::urls(text), want, "{text}");
        }
    }
}
