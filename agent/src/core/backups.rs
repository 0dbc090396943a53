//! When a scheduled backup is due, and what a schedule may say. Pure.

use appos_proto::backups::BackupSchedule;

/// Why a schedule cannot be taken, naming the field.
pub fn check_schedule(s: &BackupSchedule) -> Result<(), (&'static str, String)> {
    if !(3600..=30 * 86_400).contains(&s.every_secs) {
        return Err(("every_secs", "from 3600 (hourly) to 2592000 (30 days)".into()));
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
        for (last, busy, now, want) in [(None, false, 0, true), (None, true, 0, false), (Some(0), false, H - 1, false), (Some(0), false, H, true), (Some(0), true, 2 * H, false)] {
            assert_eq!(due(3600, last, busy, now), want, "last {last:?} busy {busy} now {now}");
        }
        assert_eq!(next(3600, None, 5), 5);
        assert_eq!(next(3600, Some(0), 5), H);
        assert_eq!(next(3600, Some(0), 2 * H), 2 * H);
    }

    #[test]
    fn schedules_are_checked_field_by_field() {
        let s = |every_secs, keep| BackupSchedule { every_secs, keep, volumes: false };
        assert_eq!(check_schedule(&s(86_400, 7)), Ok(()));
        assert_eq!(check_schedule(&s(60, 7)), Err(("every_secs", "from 3600 (hourly) to 2592000 (30 days)".to_string())));
        assert_eq!(check_schedule(&s(86_400, 0)), Err(("keep", "from 1 to 1000 snapshots".to_string())));
        for (word, secs) in [("hourly", Some(3600)), ("daily", Some(86_400)), ("weekly", Some(604_800)), ("7200", Some(7200)), ("often", None)] {
            assert_eq!(appos_proto::backups::parse_every(word), secs, "{word}");
        }
    }
}
