//! Names that travel on the wire and end up in paths, compose projects and
//! container filters. Each is a newtype that validates when it is made or
//! deserialised, so code that holds one never checks it again.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// Why a string is not a valid name; the message is the rule, for a field error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName(pub &'static str);

impl std::fmt::Display for InvalidName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidName {}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, $rule:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema, TS)]
        #[schema(value_type = String, pattern = $pattern)]
        #[ts(type = "string")]
        pub struct $name(String);

        impl $name {
            /// The rule a valid name follows, as a field error says it.
            pub const RULE: &'static str = $rule;

            pub fn parse(s: &str) -> Result<$name, InvalidName> {
                let check: fn(&[u8]) -> bool = $check;
                if check(s.as_bytes()) {
                    Ok($name(s.to_string()))
                } else {
                    Err(InvalidName($rule))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                // Validated inside the visitor, so that deserialisers which
                // know where the value came from (a path's key) can say so.
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($rule)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(Visitor)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<$name, InvalidName> {
                $name::parse(&s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<$name, InvalidName> {
                $name::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&self.0)
            }
        }

        /// Shown as the string it is (`"blog"`), as messages quote names.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

name_type!(
    /// An app's name, which is also its compose project name and the name of
    /// its directory on the server (the rule compose projects follow).
    AppName,
    "^[a-z0-9][a-z0-9_-]{0,62}$",
    "app names match ^[a-z0-9][a-z0-9_-]{0,62}$",
    |b| !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
);

name_type!(
    /// A service of a compose file.
    ServiceName,
    "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$",
    "service names match ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$",
    |b| !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        let long = "a".repeat(63);
        for ok in ["a", "wordpress", "my-app_2", "0x", long.as_str()] {
            assert_eq!(
                AppName::parse(ok).map(String::from),
                Ok(ok.to_string()),
                "{ok:?}"
            );
        }
        let (too_long, far_too_long) = ("a".repeat(64), "a".repeat(300));
        for bad in [
            "",
            "../x",
            "a;b",
            "A B",
            "Abc",
            "-a",
            "_a",
            "a/b",
            "a.b",
            "a\n",
            too_long.as_str(),
            far_too_long.as_str(),
        ] {
            assert_eq!(
                AppName::parse(bad),
                Err(InvalidName(AppName::RULE)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn service_names() {
        for ok in ["web", "Web.1", "db_2", "a-b"] {
            assert!(ServiceName::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", ".x", "-x", "a b", "a/b", "a;b", "$(x)"] {
            assert_eq!(
                ServiceName::parse(bad),
                Err(InvalidName(ServiceName::RULE)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_validate_when_deserialised() {
        let ok: AppName = serde_json::from_str("\"blog\"").expect("valid");
        assert_eq!(ok, "blog");
        let e = serde_json::from_str::<AppName>("\"../etc\"").expect_err("invalid");
        assert!(e.to_string().starts_with(AppName::RULE), "{e}");
        assert_eq!(serde_json::to_string(&ok).expect("json"), "\"blog\"");
    }
}
