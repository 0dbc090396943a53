//! What an app's containers print, from all of its
//! services or one, the last N lines and/or since a time, filtered by a
//! regular expression, and followed live on request.

use appos_proto::{AppLogLine, AppName, LogsQuery, ProblemCode};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;

use crate::error::{AgentError, Result};
use crate::state::Shared;

/// Parses `since`: an epoch second count or an age (`30s`, `10m`, `2h`, `1d`).
pub fn parse_since(s: &str, now: i64) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return (n >= 0).then_some(n);
    }
    // The unit is the last character, whatever its width (a multibyte one
    // is no unit, and must not split a character in two).
    let unit_char = s.chars().last()?;
    let (num, unit) = s.split_at(s.len() - unit_char.len_utf8());
    let n: i64 = num.parse().ok().filter(|n: &i64| *n >= 0)?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    Some((now - secs).max(0))
}

/// A line as Docker gives it with `timestamps`: its time (µs since the
/// epoch; 0 when it has none) and its text.
fn stamped(line: &str) -> (i64, &str) {
    line.split_once(' ')
        .and_then(|(ts, text)| {
            let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
                .ok()?;
            Some(((t.unix_timestamp_nanos() / 1000) as i64, text))
        })
        .unwrap_or((0, line))
}

/// The app's logs as a stream of lines, merged over its containers.
pub async fn stream(
    state: &Shared,
    app: &AppName,
    q: LogsQuery,
) -> Result<BoxStream<'static, AppLogLine>> {
    let tail = match q.tail.as_deref() {
        None => "200".to_string(),
        Some("all") => "all".to_string(),
        Some(n) => n
            .parse::<u32>()
            .map(|n| n.to_string())
            .map_err(|_| AgentError::invalid("tail", "a number of lines or `all`"))?,
    };
    let since = match q.since.as_deref() {
        None => 0,
        Some(s) => parse_since(s, state.clock.now()).ok_or_else(|| {
            AgentError::invalid(
                "since",
                "seconds since the epoch, or an age like 10m, 2h, 1d",
            )
        })?,
    };
    let grep = match q.grep.as_deref() {
        None | Some("") => None,
        Some(re) => Some(
            regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    AgentError::invalid("grep", format!("not a valid regular expression: {e}"))
                })?,
        ),
    };
    let a = crate::infra::docker::project(&state.docker, app)
        .await
        .map_err(AgentError::docker)?
        .ok_or_else(|| {
            AgentError::refused(ProblemCode::AppNotFound, format!("{app} has no containers"))
        })?;
    if let Some(s) = &q.service {
        if !a.services.iter().any(|x| x.name == s.as_str()) {
            return Err(AgentError::invalid(
                "service",
                format!("{app} has no service {s:?}"),
            ));
        }
    }
    let mut streams = Vec::new();
    for svc in a.services.into_iter().filter(|s| {
        q.service
            .as_ref()
            .is_none_or(|want| s.name == want.as_str())
    }) {
        for c in svc.containers {
            let opts = LogsOptions {
                follow: q.follow,
                stdout: true,
                stderr: true,
                timestamps: true,
                since: since.min(i32::MAX as i64) as i32,
                tail: tail.clone(),
                ..Default::default()
            };
            let (service, container) = (svc.name.clone(), c.name.clone());
            let grep = grep.clone();
            let s = state.docker.logs(&c.id, Some(opts)).flat_map(move |item| {
                let lines: Vec<AppLogLine> = match item {
                    Ok(out) => {
                        let (stream, bytes) = match out {
                            LogOutput::StdErr { message } => ("stderr", message),
                            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                                ("stdout", message)
                            }
                            LogOutput::StdIn { .. } => ("stdin", bytes::Bytes::new()),
                        };
                        String::from_utf8_lossy(&bytes)
                            .lines()
                            .map(stamped)
                            .filter(|(_, l)| grep.as_ref().is_none_or(|re| re.is_match(l)))
                            .map(|(at_us, l)| AppLogLine {
                                service: service.clone(),
                                container: container.clone(),
                                stream: stream.into(),
                                text: l.to_string(),
                                at_us,
                            })
                            .collect()
                    }
                    Err(e) => vec![AppLogLine {
                        service: service.clone(),
                        container: container.clone(),
                        stream: "error".into(),
                        text: e.to_string(),
                        at_us: 0,
                    }],
                };
                futures_util::stream::iter(lines)
            });
            streams.push(s.boxed());
        }
    }
    Ok(futures_util::stream::select_all(streams).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_timestamps_are_read_off_each_line() {
        assert_eq!(
            stamped("2026-12-01T01:29:07.123456789Z GET / 200"),
            (1_796_088_547_123_456, "GET / 200")
        );
        assert_eq!(
            stamped("2026-12-01T01:29:07Z ready"),
            (1_796_088_547_000_000, "ready")
        );
        assert_eq!(stamped("no timestamp here"), (0, "no timestamp here"));
        assert_eq!(
            stamped("2026-12-01T01:29:07.5Z "),
            (1_796_088_547_500_000, "")
        );
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("1700000000", 0), Some(1_700_000_000));
        assert_eq!(parse_since("10m", 10_000), Some(9_400));
        assert_eq!(parse_since("2h", 10_000), Some(2_800));
        assert_eq!(parse_since("1d", 10), Some(0));
        for bad in [
            "",
            "m",
            "-5",
            "5y",
            "ten",
            "-5m",
            "\u{80}",
            "5\u{80}",
            "5\u{1F600}",
            "\u{1F600}m",
        ] {
            assert_eq!(parse_since(bad, 100), None, "{bad:?}");
        }
    }
}
