// Backups for people: a schedule in words, how old the last backup is and
// whether that is late, an app's latest snapshot, and a run's outcome.
import type { UiError } from "../api/desktop.gen";
import type { BackupRun, BackupSchedule, RunState, Snapshot } from "../api/types.gen";
import { fmtAge, fmtAgo, fmtSpan } from "./format";

/** A run being followed is read again this often until it ends. */
export const BACKUP_RUN_POLL_MS = 500;

/** The intervals the schedule editor offers; the agent takes any from an hour up. */
export const INTERVALS: { secs: number; label: string }[] = [
  { secs: 3600, label: "Hourly" },
  { secs: 86_400, label: "Daily" },
  { secs: 604_800, label: "Weekly" },
];

/** A last backup older than this many schedule intervals is late (the agent's `backup_stale` rule, as shipped). */
export const STALE_INTERVALS = 2;

/** Whether the agent refused because no backup repository is set (its problem code `no_repository`). */
export function isNoRepository(e: UiError | null | undefined): boolean {
  return e?.problem === "no_repository";
}

/**
 * An agent's refusal as a sentence, without its title said twice: the
 * desktop writes a problem as "Title: detail", and some details start with
 * the title again. "No backup repository is set: no backup repository is
 * set: `…` sets one" reads "No backup repository is set: `…` sets one".
 */
export function refusalWords(message: string): string {
  let s = message.trim();
  const i = s.indexOf(": ");
  if (i > 0) {
    const title = s.slice(0, i);
    const rest = s.slice(i + 2);
    if (rest.toLowerCase().startsWith(title.toLowerCase())) s = title + rest.slice(title.length);
  }
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A snapshot's id as lists show it: restic's short id, 8 hex digits. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** "Every day", "Every 6 hours", "Every 2 weeks"; the span as the agent writes it otherwise. */
export function everyWords(secs: number): string {
  const unit = (n: number, one: string) => (n === 1 ? `Every ${one}` : `Every ${n} ${one}s`);
  if (secs > 0 && secs % 604_800 === 0) return unit(secs / 604_800, "week");
  if (secs > 0 && secs % 86_400 === 0) return unit(secs / 86_400, "day");
  if (secs > 0 && secs % 3600 === 0) return unit(secs / 3600, "hour");
  return `Every ${fmtSpan(secs)}`;
}

/** "Every day, keeping 7 snapshots, with volumes"; "No schedule" without one. */
export function scheduleWords(s: BackupSchedule | null): string {
  if (!s) return "No schedule";
  return `${everyWords(s.every_secs)}, keeping ${s.keep === 1 ? "1 snapshot" : `${s.keep} snapshots`}, ${s.volumes ? "with volumes" : "without volumes"}`;
}

/** "Last backup 3 h ago", or "No backup yet". */
export function lastBackupWords(lastMs: number | null, now = Date.now()): string {
  return lastMs === null ? "No backup yet" : `Last backup ${fmtAgo(lastMs, now)}`;
}

/** Whether the last backup is older than twice the schedule's interval (never without a schedule or a backup). */
export function isStale(lastMs: number | null, schedule: BackupSchedule | null, now = Date.now()): boolean {
  if (!schedule || lastMs === null) return false;
  return now - lastMs > STALE_INTERVALS * schedule.every_secs * 1000;
}

/** "Next backup in 21 h", "Next backup due now"; null when none is scheduled. */
export function nextBackupWords(nextMs: number | null, now = Date.now()): string | null {
  if (nextMs === null) return null;
  if (nextMs - now < 5000) return "Next backup due now";
  return `Next backup in ${fmtAge(now, nextMs)}`;
}

/** Newest first. */
export function sortSnapshots(list: readonly Snapshot[]): Snapshot[] {
  return [...list].sort((a, b) => b.time_ms - a.time_ms || a.id.localeCompare(b.id));
}

/** The newest snapshot that holds `app`, or null. */
export function latestSnapshotFor(list: readonly Snapshot[], app: string): Snapshot | null {
  let best: Snapshot | null = null;
  for (const s of list) if (s.apps.includes(app) && (!best || s.time_ms > best.time_ms)) best = s;
  return best;
}

/** An app page's line: "Last backup: 3 h ago (snapshot 4f6a2c19)", or "Not backed up yet". */
export function appBackupWords(latest: Snapshot | null, now = Date.now()): string {
  return latest ? `Last backup: ${fmtAgo(latest.time_ms, now)} (snapshot ${shortId(latest.id)})` : "Not backed up yet";
}

export function isRunOver(state: RunState): boolean {
  return state === "succeeded" || state === "failed";
}

/** "Backup of every app", "Backup of blog with volumes", "Restore of blog". */
export function runWords(r: Pick<BackupRun, "kind" | "app" | "volumes">): string {
  if (r.kind === "restore") return `Restore of ${r.app ?? "?"}`;
  return `Backup of ${r.app ?? "every app"}${r.volumes ? " with volumes" : ""}`;
}

/**
 * How a run ended, for the run being followed: "Snapshot 4f6a2c19 written",
 * "blog is back from snapshot 4f6a2c19; its deployment is queued"; the error
 * when it failed; null while it runs.
 */
export function runOutcome(r: Pick<BackupRun, "kind" | "app" | "state" | "snapshot" | "error">): string | null {
  if (r.state === "failed") return r.error ?? "It failed without saying why.";
  if (r.state !== "succeeded") return null;
  if (r.kind === "restore") return `${r.app ?? "The app"} is back from snapshot ${r.snapshot ? shortId(r.snapshot) : "?"}; its deployment is queued`;
  return r.snapshot ? `Snapshot ${shortId(r.snapshot)} written` : "Done";
}

/** A run's result in a list: "snapshot 4f6a2c19", its error, or "—" while it runs. */
export function runResult(r: Pick<BackupRun, "state" | "snapshot" | "error">): string {
  if (r.state === "failed") return r.error ?? "failed";
  return r.snapshot ? `snapshot ${shortId(r.snapshot)}` : "—";
}
