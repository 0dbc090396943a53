import { describe, expect, it } from "vitest";
import type { BackupRun, BackupSchedule } from "../api/types.gen";
import { backupRun, noRepository, snapshot, uiError } from "../test/fakeBackend";
import {
  appBackupWords,
  everyWords,
  isNoRepository,
  isStale,
  lastBackupWords,
  latestSnapshotFor,
  nextBackupWords,
  refusalWords,
  runOutcome,
  runResult,
  runWords,
  scheduleWords,
  sortSnapshots,
} from "./backups";

const NOW = 1_700_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const daily = (over: Partial<BackupSchedule> = {}): BackupSchedule => ({ every_secs: 86_400, keep: 7, volumes: true, ...over });

describe("a backup schedule in words", () => {
  it.each([
    [3600, "Every hour"],
    [7200, "Every 2 hours"],
    [86_400, "Every day"],
    [172_800, "Every 2 days"],
    [604_800, "Every week"],
    [1_209_600, "Every 2 weeks"],
    [5400, "Every 90 min"],
    [3601, "Every 3601 s"],
  ])("%i s: %s", (secs, words) => {
    expect(everyWords(secs)).toBe(words);
  });

  it.each<[BackupSchedule | null, string]>([
    [daily(), "Every day, keeping 7 snapshots, with volumes"],
    [daily({ every_secs: 3600, keep: 1, volumes: false }), "Every hour, keeping 1 snapshot, without volumes"],
    [daily({ every_secs: 604_800, keep: 1000 }), "Every week, keeping 1000 snapshots, with volumes"],
    [null, "No schedule"],
  ])("%j: %s", (s, words) => {
    expect(scheduleWords(s)).toBe(words);
  });
});

describe("the last and next backup", () => {
  it.each<[number | null, string]>([
    [null, "No backup yet"],
    [NOW - 2000, "Last backup just now"],
    [NOW - 40 * MIN, "Last backup 40 min ago"],
    [NOW - 3 * HOUR - 5000, "Last backup 3 h ago"],
    [NOW - 2 * DAY, "Last backup 2 d ago"],
  ])("last %j: %s", (last, words) => {
    expect(lastBackupWords(last, NOW)).toBe(words);
  });

  it.each<[number | null, BackupSchedule | null, boolean]>([
    // Late once older than twice the interval.
    [NOW - 47 * HOUR, daily(), false],
    [NOW - 48 * HOUR, daily(), false],
    [NOW - 48 * HOUR - 1, daily(), true],
    [NOW - 3 * HOUR, daily({ every_secs: 3600 }), true],
    [NOW - 90 * MIN, daily({ every_secs: 3600 }), false],
    // Never late without a schedule, nor before a first backup.
    [NOW - 30 * DAY, null, false],
    [null, daily(), false],
  ])("last %j with %j: late %s", (last, schedule, late) => {
    expect(isStale(last, schedule, NOW)).toBe(late);
  });

  it.each<[number | null, string | null]>([
    [null, null],
    [NOW - 1000, "Next backup due now"],
    [NOW + 4000, "Next backup due now"],
    [NOW + 30_000, "Next backup in 30 s"],
    [NOW + 21 * HOUR + 30_000, "Next backup in 21 h"],
    [NOW + 6 * DAY, "Next backup in 6 d"],
  ])("next %j: %s", (next, words) => {
    expect(nextBackupWords(next, NOW)).toBe(words);
  });
});

describe("an app's latest snapshot", () => {
  const list = [
    snapshot("1a2b3c4d", { time_ms: NOW - 27 * HOUR, apps: ["blog", "shop"] }),
    snapshot("4f6a2c19", { time_ms: NOW - 3 * HOUR, apps: ["blog"] }),
    snapshot("9e8d7c6b", { time_ms: NOW - 50 * HOUR, apps: ["wiki"] }),
    snapshot("00aa11bb", { time_ms: NOW - 30 * HOUR, apps: ["shop"] }),
  ];
  it.each([
    ["blog", "4f6a2c19", "Last backup: 3 h ago (snapshot 4f6a2c19)"],
    ["shop", "1a2b3c4d", "Last backup: 1 d ago (snapshot 1a2b3c4d)"],
    ["wiki", "9e8d7c6b", "Last backup: 2 d ago (snapshot 9e8d7c6b)"],
    ["mail", null, "Not backed up yet"],
    // A name inside another's is not it.
    ["blo", null, "Not backed up yet"],
  ])("%s: %s", (app, id, words) => {
    const latest = latestSnapshotFor(list, app);
    expect(latest?.id ?? null).toBe(id);
    expect(appBackupWords(latest, NOW)).toBe(words);
  });

  it("is none in an empty repository, and lists snapshots newest first", () => {
    expect(latestSnapshotFor([], "blog")).toBeNull();
    expect(sortSnapshots(list).map((s) => s.id)).toEqual(["4f6a2c19", "1a2b3c4d", "00aa11bb", "9e8d7c6b"]);
    expect(list.map((s) => s.id)).toEqual(["1a2b3c4d", "4f6a2c19", "9e8d7c6b", "00aa11bb"]);
  });
});

describe("a backup run in words", () => {
  it.each<[Partial<BackupRun>, string, string | null, string]>([
    [{}, "Backup of every app", null, "—"],
    [{ volumes: true, state: "succeeded", snapshot: "4f6a2c19" }, "Backup of every app with volumes", "Snapshot 4f6a2c19 written", "snapshot 4f6a2c19"],
    [{ app: "blog", state: "queued" }, "Backup of blog", null, "—"],
    [{ state: "failed", error: "restic backup: permission denied" }, "Backup of every app", "restic backup: permission denied", "restic backup: permission denied"],
    [{ kind: "restore", app: "blog", volumes: true, snapshot: "4f6a2c19" }, "Restore of blog", null, "snapshot 4f6a2c19"],
    [{ kind: "restore", app: "blog", state: "succeeded", snapshot: "4f6a2c19" }, "Restore of blog", "blog is back from snapshot 4f6a2c19; its deployment is queued", "snapshot 4f6a2c19"],
    [
      { kind: "restore", app: "blog", state: "failed", snapshot: "4f6a2c19", error: "blog exists here: a restore never overwrites an app; delete it first" },
      "Restore of blog",
      "blog exists here: a restore never overwrites an app; delete it first",
      "blog exists here: a restore never overwrites an app; delete it first",
    ],
  ])("%j", (over, words, outcome, result) => {
    const r = backupRun("r1", over);
    expect([runWords(r), runOutcome(r), runResult(r)]).toEqual([words, outcome, result]);
  });
});

describe("the agent's refusals", () => {
  it.each([
    ["No backup repository is set: no backup repository is set: `appos backup repository PATH` sets one", "No backup repository is set: `appos backup repository PATH` sets one"],
    ["no backup repository is set: `appos backup repository PATH` sets one", "No backup repository is set: `appos backup repository PATH` sets one"],
    ["The app exists: blog exists here: a restore never overwrites an app; delete it first", "The app exists: blog exists here: a restore never overwrites an app; delete it first"],
    ["restic failed", "Restic failed"],
  ])("%s", (message, words) => {
    expect(refusalWords(message)).toBe(words);
  });

  it("knows the missing repository by the agent's problem code", () => {
    expect(isNoRepository(noRepository)).toBe(true);
    expect(isNoRepository(uiError("conflict", "No backup repository is set: no backup repository is set"))).toBe(false);
    expect(isNoRepository({ ...uiError("conflict", "x"), problem: "repository_exists" })).toBe(false);
    expect(isNoRepository(null)).toBe(false);
  });
});
