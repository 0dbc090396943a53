//! When a scheduled backup is due, what a schedule may say, and where a
//! repository may be. Pure.

use appos_proto::backups::BackupSchedule;

/// Where a repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An absolute path on the server.
    Local(String),
    /// On another host, over SSH's SFTP subsystem.
    Sftp(SftpTarget),
}

/// A repository over SFTP: `sftp:USER@HOST:/PATH` or `sftp://USER@HOST[:PORT]/PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// Absolute, or relative to the user's home.
    pub path: String,
}

impl SftpTarget {
    /// The location as restic takes it (the port goes in the ssh command).
    pub fn restic_location(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("sftp:{}@{host}:{}", self.user, self.path)
    }

    /// `host` or `[host]:port`, as known_hosts names it.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

const LOCATION_HELP: &str = "an absolute path on the server, or sftp:USER@HOST:/PATH (sftp://USER@HOST:PORT//PATH for another port)";

/// What a repository location says, or why it cannot be taken. User and
/// host become arguments of `ssh`: neither may start with `-` or hold
/// anything but the characters names use, so none can be read as an option.
pub fn parse_location(s: &str) -> Result<Location, String> {
    let help = || LOCATION_HELP.to_string();
    if s.chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(help());
    }
    // (user@host[:port], path): restic's `sftp://u@h:p//abs` and `sftp://u@h/rel`, or scp's `sftp:u@h:path`.
    let (authority, path, port_allowed) = if let Some(rest) = s.strip_prefix("sftp://") {
        let (authority, path) = rest.split_once('/').ok_or_else(help)?;
        (authority, path, true)
    } else if let Some(rest) = s.strip_prefix("sftp:") {
        let cut = if rest.contains("@[") {
            rest.find("]:").map(|i| i + 1)
        } else {
            rest.find(':')
        };
        let cut = cut.ok_or_else(help)?;
        (&rest[..cut], &rest[cut + 1..], false)
    } else {
        if !s.starts_with('/') || s.split('/').any(|p| p == "..") {
            return Err(help());
        }
        return Ok(Location::Local(s.to_string()));
    };
    let (user, host_port) = authority
        .split_once('@')
        .ok_or_else(|| "name the user: sftp:USER@HOST:/PATH".to_string())?;
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or_else(help)?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port = match port {
        None => 22,
        Some(p) if port_allowed => p
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{p:?} is not a port"))?,
        Some(_) => return Err(help()),
    };
    let name_ok = |x: &str, extra: &str| {
        !x.is_empty()
            && !x.starts_with('-')
            && x.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(c))
    };
    if !name_ok(user, "") {
        return Err(format!(
            "{user:?} is not a user name: letters, digits, '.', '_' and '-' (not first)"
        ));
    }
    if !name_ok(host, ":") {
        return Err(format!("{host:?} is not a host name or address"));
    }
    if path.is_empty() || path == "/" || path.split('/').any(|p| p == "..") {
        return Err(format!(
            "give the repository's directory on {host}: {LOCATION_HELP}"
        ));
    }
    Ok(Location::Sftp(SftpTarget {
        user: user.to_string(),
        host: host.to_string(),
        port,
        path: path.to_string(),
    }))
}

/// Why a schedule cannot be taken, naming the field.
pub fn check_schedule(s: &BackupSchedule) -> Result<(), (&'static str, String)> {
    if !(3600..=30 * 86_400).contains(&s.every_secs) {
        return Err((
            "every_secs",
            "from 3600 (hourly) to 2592000 (30 days)".into(),
        ));
    }
    if !(1..=1000).contains(&s.keep) {
        return Err(("keep", "from 1 to 1000 snapshots".into()));
    }
    Ok(())
}

/// Whether the schedule should queue a backup now: none is on its way, and
/// the schedule's latest was queued at least one interval ago, or there was
/// none (backups taken by hand do not move the schedule).
pub fn due(every_secs: u64, last_scheduled_ms: Option<i64>, busy: bool, now_ms: i64) -> bool {
    !busy && last_scheduled_ms.is_none_or(|at| now_ms - at >= every_secs as i64 * 1000)
}

/// When the next scheduled backup is due (ms), from the schedule's latest.
pub fn next(every_secs: u64, last_scheduled_ms: Option<i64>, now_ms: i64) -> i64 {
    last_scheduled_ms.map_or(now_ms, |at| (at + every_secs as i64 * 1000).max(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_due_an_interval_after_the_last_and_never_twice_at_once() {
        const H: i64 = 3_600_000;
        for (last, busy, now, want) in [
            (None, false, 0, true),
            (None, true, 0, false),
            (Some(0), false, H - 1, false),
            (Some(0), false, H, true),
            (Some(0), true, 2 * H, false),
        ] {
            assert_eq!(
                due(3600, last, busy, now),
                want,
                "last {last:?} busy {busy} now {now}"
            );
        }
        assert_eq!(next(3600, None, 5), 5);
        assert_eq!(next(3600, Some(0), 5), H);
        assert_eq!(next(3600, Some(0), 2 * H), 2 * H);
    }

    #[test]
    fn repository_locations_are_parsed_and_hostile_ones_refused() {
        let sftp = |user: &str, host: &str, port, path: &str| {
            Ok(Location::Sftp(SftpTarget {
                user: user.into(),
                host: host.into(),
                port,
                path: path.into(),
            }))
        };
        let help = Err(LOCATION_HELP.to_string());
        for (text, want) in [
            ("/var/backups/appos", Ok(Location::Local("/var/backups/appos".into()))),
            ("relative/dir", help.clone()),
            ("/srv/../etc", help.clone()),
            ("/tmp/a\nb", help.clone()),
            ("/tmp/a b", help.clone()),
            ("s3:bucket", help.clone()),
            ("sftp:backup@vault:/srv/appos", sftp("backup", "vault", 22, "/srv/appos")),
            ("sftp:backup@vault:appos", sftp("backup", "vault", 22, "appos")),
            ("sftp:backup@[fd00::1]:/srv/appos", sftp("backup", "fd00::1", 22, "/srv/appos")),
            ("sftp://backup@vault:2222//srv/appos", sftp("backup", "vault", 2222, "/srv/appos")),
            ("sftp://backup@vault/appos", sftp("backup", "vault", 22, "appos")),
            ("sftp://backup@[fd00::1]:2222//srv", sftp("backup", "fd00::1", 2222, "/srv")),
            ("sftp:", help.clone()),
            ("sftp:vault:/srv", Err("name the user: sftp:USER@HOST:/PATH".into())),
            ("sftp:backup@vault:", Err(format!("give the repository's directory on vault: {LOCATION_HELP}"))),
            ("sftp://backup@vault:2222/", Err(format!("give the repository's directory on vault: {LOCATION_HELP}"))),
            ("sftp://backup@vault:0//srv", Err("\"0\" is not a port".into())),
            ("sftp://backup@vault:ssh//srv", Err("\"ssh\" is not a port".into())),
            // Nothing ssh could take for an option.
            ("sftp:-oProxyCommand=touch@vault:/srv", Err("\"-oProxyCommand=touch\" is not a user name: letters, digits, '.', '_' and '-' (not first)".into())),
            ("sftp:backup@-oProxyCommand=x:/srv", Err("\"-oProxyCommand=x\" is not a host name or address".into())),
            ("sftp:backup@vault;reboot:/srv", Err("\"vault;reboot\" is not a host name or address".into())),
            ("sftp:back$(id)@vault:/srv", Err("\"back$(id)\" is not a user name: letters, digits, '.', '_' and '-' (not first)".into())),
            ("sftp:backup@vault:/srv/../../etc", Err(format!("give the repository's directory on vault: {LOCATION_HELP}"))),
        ] {
            assert_eq!(parse_location(text), want, "{text:?}");
        }
        let t = SftpTarget {
            user: "b".into(),
            host: "fd00::1".into(),
            port: 2222,
            path: "/srv".into(),
        };
        assert_eq!(
            (t.restic_location(), t.known_hosts_name()),
            (
                "sftp:b@[fd00::1]:/srv".to_string(),
                "[fd00::1]:2222".to_string()
            )
        );
        let t = SftpTarget {
            port: 22,
            host: "vault".into(),
            ..t
        };
        assert_eq!(
            (t.restic_location(), t.known_hosts_name()),
            ("sftp:b@vault:/srv".to_string(), "vault".to_string())
        );
    }

    #[test]
    fn schedules_are_checked_field_by_field() {
        let s = |every_secs, keep| BackupSchedule {
            every_secs,
            keep,
            volumes: false,
        };
        assert_eq!(check_schedule(&s(86_400, 7)), Ok(()));
        assert_eq!(
            check_schedule(&s(60, 7)),
            Err((
                "every_secs",
                "from 3600 (hourly) to 2592000 (30 days)".to_string()
            ))
        );
        assert_eq!(
            check_schedule(&s(86_400, 0)),
            Err(("keep", "from 1 to 1000 snapshots".to_string()))
        );
        for (word, secs) in [
            ("hourly", Some(3600)),
            ("daily", Some(86_400)),
            ("weekly", Some(604_800)),
            ("7200", Some(7200)),
            ("often", None),
        ] {
            assert_eq!(appos_proto::backups::parse_every(word), secs, "{word}");
        }
    }
}
