import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { BackupRun, ScheduleStatus, Snapshot } from "../api/types.gen";
import { fmtTime } from "../lib/format";
import { agentSshKey, backupRun, FakeBackend, noRepository, repositorySet, snapshot, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

afterEach(cleanup);

const MIN = 60_000;
const HOUR = 60 * MIN;
/** Long enough for a few reads of a run, BACKUP_RUN_POLL_MS apart. */
const FOLLOW = { timeout: 4000 };

/** A fake whose schedule, snapshots and runs answer from state the test may change. */
function setup({ status = { schedule: null, last_success_ms: null, next_ms: null } as ScheduleStatus, snapshots = [] as Snapshot[], runs = [] as BackupRun[] } = {}) {
  const b = new FakeBackend();
  const state = { status, snapshots: [...snapshots], runs: [...runs] };
  b.on("get_backup_schedule", () => state.status);
  b.on("list_snapshots", () => state.snapshots);
  b.on("list_backup_runs", () => state.runs);
  return { b, state };
}

/** A fake without a repository until `setBackupRepository` sets one: then the schedule and snapshots answer. */
function setupNone() {
  const { b, state } = setup();
  const set = () => !!b.repositories.local?.location;
  b.on("get_backup_schedule", () => (set() ? state.status : noRepository));
  b.on("list_snapshots", () => (set() ? state.snapshots : noRepository));
  return { b, state };
}

const KEY = "7c1e9a0f4b2d6e8a3c5f7b9d1e3a5c7f9b1d3e5a7c9f1b3d5e7a9c1f3b5d7e9a";
const FP = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

const value = (id: string) => (byId(id) as HTMLInputElement | HTMLSelectElement).value;
const fill = (id: string, v: string) => fireEvent.change(byId(id), { target: { value: v } });
const click = (id: string) => act(async () => fireEvent.click(byId(id)));
const cells = (id: string) => within(byId(id)).getAllByRole("cell").map((c) => c.textContent);
const lines = () => screen.queryAllByTestId("backup-run-line").map((l) => l.textContent);

describe("Backups tab", () => {
  it("shows the schedule, the snapshots newest first, and the recent runs", async () => {
    const now = Date.now();
    const { b } = setup({
      status: { schedule: { every_secs: 86_400, keep: 7, volumes: true }, last_success_ms: now - 3 * HOUR - 5000, next_ms: now + 21 * HOUR + 30_000 },
      snapshots: [
        snapshot("1a2b3c4d", { time_ms: now - 27 * HOUR, apps: ["blog"] }),
        snapshot("4f6a2c19", { time_ms: now - 3 * HOUR - 5000, apps: ["blog", "shop"], volumes: true }),
      ],
      runs: [
        backupRun("r1", { state: "succeeded", volumes: true, snapshot: "4f6a2c19", created_ms: now - 3 * HOUR - 60_000, finished_ms: now - 3 * HOUR - 5000, actor: "schedule" }),
        backupRun("r2", { kind: "restore", app: "blog", state: "failed", snapshot: "1a2b3c4d", error: "blog exists here: a restore never overwrites an app; delete it first", created_ms: now - 20 * MIN }),
        backupRun("r3", { created_ms: now - 2000 }),
      ],
    });
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-snapshots-table");
    expect(byId("nav-backups").dataset.active).toBe("true");
    expect(byId("nav-backups").textContent).toBe("Backups");

    expect(byId("backup-schedule-text").textContent).toBe("Every day, keeping 7 snapshots, with volumes");
    expect(byId("backup-last").textContent).toBe("Last backup 3 h ago");
    expect(byId("backup-last").dataset.stale).toBe("false");
    expect(byId("backup-next").textContent).toBe("Next backup in 21 h");
    expect(byId("backup-schedule-edit").textContent?.trim()).toBe("Edit");

    expect(byId("backup-snapshots-count").textContent).toBe("2 snapshots");
    expect(screen.getAllByTestId(/^snapshot-[0-9a-f]{8}$/).map((r) => r.dataset.testid)).toEqual(["snapshot-4f6a2c19", "snapshot-1a2b3c4d"]);
    expect(cells("snapshot-4f6a2c19")).toEqual(["4f6a2c19on web-1", "3 h ago", "blogRestore…shopRestore…", "with volumes"]);
    expect(cells("snapshot-1a2b3c4d")).toEqual(["1a2b3c4don web-1", "1 d ago", "blogRestore…", "—"]);
    expect(byId("snapshot-when-4f6a2c19").title).toBe(fmtTime(now - 3 * HOUR - 5000));
    expect(byId("snapshot-restore-4f6a2c19-shop").title).toBe("Restore shop from snapshot 4f6a2c19");

    expect(screen.getAllByTestId(/^backup-run-r\d$/).map((r) => r.dataset.testid)).toEqual(["backup-run-r3", "backup-run-r2", "backup-run-r1"]);
    expect(cells("backup-run-r1")).toEqual(["Backupwith volumes", "every app", "succeeded", "3 h ago", "snapshot 4f6a2c19"]);
    expect(cells("backup-run-r2")).toEqual(["Restore", "blog", "failed", "20 min ago", "blog exists here: a restore never overwrites an app; delete it first"]);
    expect(byId("backup-run-result-r2").className).toContain("text-red-600");
    expect(cells("backup-run-r3")).toEqual(["Backup", "every app", "running", "just now", "—"]);
    expect(byId("backup-run-state-r3").className).toContain("emerald");
    expect(byId("backup-run-when-r1").title).toContain(", by schedule");
  });

  it("says when there is no schedule, no backup and no snapshot, and when the last backup is late", async () => {
    const { b, state } = setup();
    renderServer(b, { view: "backups" });
    const events = await connected(b);
    await screen.findByTestId("backup-schedule-text");
    expect(byId("backup-schedule-text").textContent).toBe("No schedule");
    expect(byId("backup-last").textContent).toBe("No backup yet");
    expect(screen.queryByTestId("backup-next")).toBeNull();
    expect(byId("backup-schedule-edit").textContent?.trim()).toBe("Set a schedule");
    expect(byId("backup-snapshots").textContent).toContain("No snapshots yet");
    expect(byId("backup-runs-empty").textContent).toBe("No backup or restore yet.");

    // A backup that ended (a scheduled one too) lists everything again.
    const now = Date.now();
    state.status = { schedule: { every_secs: 3600, keep: 1, volumes: false }, last_success_ms: now - 3 * HOUR, next_ms: now - 1000 };
    state.snapshots = [snapshot("9e8d7c6b", { time_ms: now - 3 * HOUR })];
    state.runs = [backupRun("r9", { state: "succeeded", snapshot: "9e8d7c6b", created_ms: now - 3 * HOUR })];
    events.event("backup", null, { run: "r9", kind: "backup", state: "succeeded", app: null });
    await waitFor(() => expect(byId("backup-schedule-text").textContent).toBe("Every hour, keeping 1 snapshot, without volumes"));
    expect(byId("backup-last").textContent).toBe("Last backup 3 h ago");
    expect(byId("backup-last").dataset.stale).toBe("true");
    expect(byId("backup-last").className).toContain("amber");
    expect(byId("backup-next").textContent).toBe("Next backup due now");
    await waitFor(() => expect(byId("backup-snapshots-count").textContent).toBe("1 snapshot"));
    expect(byId("backup-run-result-r9").textContent).toBe("snapshot 9e8d7c6b");
  });

  it("saves a schedule with exactly what was picked, shows the agent's field error, and turns it off", async () => {
    const { b } = setup();
    const saved = (every_secs: number, keep: number, volumes: boolean): ScheduleStatus => ({ schedule: { every_secs, keep, volumes }, last_success_ms: null, next_ms: Date.now() });
    b.on(
      "set_backup_schedule",
      uiError("invalid_input", "Invalid input: keep: from 1 to 1000 snapshots", [{ field: "keep", message: "from 1 to 1000 snapshots" }]),
      uiError("forbidden", "Forbidden: only admin tokens may change the schedule"),
      (s) => saved(s.every_secs, s.keep, s.volumes),
    );
    b.on("clear_backup_schedule", { schedule: null, last_success_ms: null, next_ms: null });
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-schedule-edit");
    await click("backup-schedule-edit");
    expect(value("backup-schedule-every")).toBe("86400");
    expect(within(byId("backup-schedule-every")).getAllByRole("option").map((o) => o.textContent)).toEqual(["Hourly", "Daily", "Weekly"]);
    expect(value("backup-schedule-keep")).toBe("7");
    expect((byId("backup-schedule-volumes") as HTMLInputElement).checked).toBe(false);
    // No schedule yet: nothing to turn off.
    expect(screen.queryByTestId("backup-schedule-off")).toBeNull();

    // Checked here first: nothing is sent.
    fill("backup-schedule-keep", "seven");
    await click("backup-schedule-save");
    expect(byId("backup-schedule-keep-error").textContent).toBe("A whole number of snapshots.");
    expect(b.callsOf("set_backup_schedule")).toHaveLength(0);

    fill("backup-schedule-every", "604800");
    fill("backup-schedule-keep", "0");
    fireEvent.click(byId("backup-schedule-volumes"));
    await click("backup-schedule-save");
    expect((await screen.findByTestId("backup-schedule-keep-error")).textContent).toBe("from 1 to 1000 snapshots");
    expect(byId("backup-schedule-keep").getAttribute("aria-invalid")).toBe("true");
    expect(screen.queryByTestId("backup-schedule-save-error")).toBeNull();
    expect(b.callsOf("set_backup_schedule")).toEqual([["local", { every_secs: 604800, keep: 0, volumes: true }]]);

    fill("backup-schedule-keep", "4");
    expect(screen.queryByTestId("backup-schedule-keep-error")).toBeNull();
    await click("backup-schedule-save");
    const refused = await screen.findByTestId("backup-schedule-save-error");
    expect(within(refused).getByText("Forbidden: only admin tokens may change the schedule")).toBeTruthy();

    await click("backup-schedule-save");
    await waitFor(() => expect(byId("backup-schedule-text").textContent).toBe("Every week, keeping 4 snapshots, with volumes"));
    expect(b.callsOf("set_backup_schedule")[2]).toEqual(["local", { every_secs: 604800, keep: 4, volumes: true }]);
    expect(byId("backup-next").textContent).toBe("Next backup due now");

    // Editing again starts from the schedule; Turn off clears it.
    await click("backup-schedule-edit");
    expect(value("backup-schedule-every")).toBe("604800");
    expect(value("backup-schedule-keep")).toBe("4");
    await click("backup-schedule-off");
    await waitFor(() => expect(byId("backup-schedule-text").textContent).toBe("No schedule"));
    expect(b.callsOf("clear_backup_schedule")).toEqual([["local", {}]]);
  });

  it("keeps a schedule set elsewhere among the intervals", async () => {
    const { b } = setup({ status: { schedule: { every_secs: 2 * 86_400, keep: 10, volumes: false }, last_success_ms: null, next_ms: null } });
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-schedule-edit");
    expect(byId("backup-schedule-text").textContent).toBe("Every 2 days, keeping 10 snapshots, without volumes");
    await click("backup-schedule-edit");
    expect(within(byId("backup-schedule-every")).getAllByRole("option").map((o) => o.textContent)).toEqual(["Hourly", "Daily", "Weekly", "Every 2 days"]);
    expect(value("backup-schedule-every")).toBe("172800");
    await click("backup-schedule-cancel");
    expect(byId("backup-schedule-text").textContent).toBe("Every 2 days, keeping 10 snapshots, without volumes");
  });

  it("backs up now and follows the run to its success", async () => {
    const { b } = setup();
    b.on("create_backup", { id: "r7" });
    b.on(
      "get_backup_run",
      backupRun("r7", { volumes: true, state: "queued" }),
      backupRun("r7", { volumes: true, log: ["the agent's database: copied with SQLite's online backup"] }),
      backupRun("r7", {
        volumes: true,
        state: "succeeded",
        snapshot: "4f6a2c19",
        finished_ms: Date.now(),
        log: ["the agent's database: copied with SQLite's online backup", "volume blog_data of blog: 52428800 bytes", "snapshot 4f6a2c19: 2 app(s) with their volumes"],
      }),
    );
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-now-start");
    fireEvent.click(byId("backup-now-volumes"));
    await click("backup-now-start");
    expect(b.callsOf("create_backup")).toEqual([["local", { app: null, volumes: true }]]);

    await waitFor(() => expect(byId("backup-run").dataset.state).toBe("queued"));
    expect(byId("backup-run-title").textContent).toBe("Backup of every app with volumes");
    expect(byId("backup-run-log").textContent).toBe("Waiting for the first step…");
    expect((byId("backup-now-start") as HTMLButtonElement).disabled).toBe(true);
    await waitFor(() => expect(lines()).toEqual(["the agent's database: copied with SQLite's online backup"]), FOLLOW);
    expect(byId("backup-run-state").textContent).toBe("running");
    await waitFor(() => expect(byId("backup-run").dataset.state).toBe("succeeded"), FOLLOW);
    expect(lines()).toEqual(["the agent's database: copied with SQLite's online backup", "volume blog_data of blog: 52428800 bytes", "snapshot 4f6a2c19: 2 app(s) with their volumes"]);
    expect(byId("backup-run-outcome").textContent).toBe("Snapshot 4f6a2c19 written");
    expect(byId("backup-run-outcome").className).toContain("emerald");
    expect((byId("backup-now-start") as HTMLButtonElement).disabled).toBe(false);

    // Not read again once it ended; the lists are.
    const reads = b.callsOf("get_backup_run").length;
    expect(b.callsOf("get_backup_run").every(([, a]) => a.id === "r7")).toBe(true);
    await waitFor(() => expect(b.callsOf("list_snapshots").length).toBeGreaterThanOrEqual(3));
    await new Promise((r) => setTimeout(r, 700));
    expect(b.callsOf("get_backup_run")).toHaveLength(reads);
  });

  it("follows a backup to its failure, and shows a refused start", async () => {
    const { b } = setup();
    b.on("create_backup", uiError("forbidden", "Forbidden: only admin tokens may back up"), { id: "r8" });
    b.on(
      "get_backup_run",
      backupRun("r8", { log: ["the agent's database: copied with SQLite's online backup"] }),
      backupRun("r8", {
        state: "failed",
        finished_ms: Date.now(),
        error: "restic backup: Fatal: unable to open repository at /srv/backups: permission denied",
        log: ["the agent's database: copied with SQLite's online backup", "failed: restic backup: Fatal: unable to open repository at /srv/backups: permission denied"],
      }),
    );
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-now-start");
    await click("backup-now-start");
    const refused = await screen.findByTestId("backup-now-error");
    expect(within(refused).getByText("Forbidden: only admin tokens may back up")).toBeTruthy();
    expect(refused.textContent).toContain("This token may only look; ask an admin for a token with more rights.");
    expect(screen.queryByTestId("backup-run")).toBeNull();

    await click("backup-now-start");
    expect(screen.queryByTestId("backup-now-error")).toBeNull();
    expect(b.callsOf("create_backup")[1]).toEqual(["local", { app: null, volumes: false }]);
    await waitFor(() => expect(byId("backup-run").dataset.state).toBe("failed"), FOLLOW);
    expect(byId("backup-run-title").textContent).toBe("Backup of every app");
    expect(byId("backup-run-state").textContent).toBe("failed");
    expect(lines()).toEqual(["the agent's database: copied with SQLite's online backup", "failed: restic backup: Fatal: unable to open repository at /srv/backups: permission denied"]);
    expect(byId("backup-run-outcome").textContent).toBe("restic backup: Fatal: unable to open repository at /srv/backups: permission denied");
    expect(byId("backup-run-outcome").getAttribute("role")).toBe("alert");
  });

  it("restores an app after asking, shows the agent's refusal, and follows the restore", async () => {
    const now = Date.now();
    const { b } = setup({ snapshots: [snapshot("4f6a2c19", { time_ms: now - 3 * HOUR, apps: ["blog", "shop"], volumes: true }), snapshot("1a2b3c4d", { time_ms: now - 27 * HOUR, apps: ["blog"] })] });
    b.on(
      "restore_backup",
      { ...uiError("conflict", "The app exists: blog exists here: a restore never overwrites an app; delete it first"), problem: "app_exists" },
      { id: "r5" },
    );
    b.on(
      "get_backup_run",
      backupRun("r5", { kind: "restore", app: "blog", volumes: true, snapshot: "4f6a2c19", log: ["snapshot 4f6a2c19 read back (2 app(s) inside, agent 0.1.0)"] }),
      backupRun("r5", {
        kind: "restore",
        app: "blog",
        volumes: true,
        state: "succeeded",
        snapshot: "4f6a2c19",
        finished_ms: Date.now(),
        log: ["snapshot 4f6a2c19 read back (2 app(s) inside, agent 0.1.0)", "volume blog_data: 52428800 bytes written back", "blog: versions 1 to 3, its deployments and domains are back", "deployment d-9 of version 3 queued"],
      }),
    );
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-snapshots-table");

    // Asked first; Cancel sends nothing.
    await click("snapshot-restore-4f6a2c19-blog");
    const dialog = byId("restore-dialog");
    expect(within(dialog).getByRole("heading").textContent).toBe("Restore blog?");
    expect(dialog.textContent).toContain("From snapshot 4f6a2c19, taken 3 h ago");
    expect(within(byId("restore-explain")).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "It brings blog back as it was then: its versions, deployments and domains, and its volumes with their data. Then it deploys it.",
      "No app named blog may exist on this server: a restore never overwrites an app. Delete it first to bring this copy back.",
    ]);
    await click("restore-cancel");
    expect(screen.queryByTestId("restore-dialog")).toBeNull();
    expect(b.callsOf("restore_backup")).toHaveLength(0);

    // A snapshot without volumes says so.
    await click("snapshot-restore-1a2b3c4d-blog");
    expect(within(byId("restore-explain")).getAllByRole("listitem")[1].textContent).toBe("This snapshot was taken without volumes: blog comes back without its data.");
    await click("restore-cancel");

    await click("snapshot-restore-4f6a2c19-blog");
    await click("restore-confirm");
    const refused = await screen.findByTestId("restore-error");
    expect(within(refused).getByText("Could not restore blog")).toBeTruthy();
    expect(within(refused).getByText("The app exists: blog exists here: a restore never overwrites an app; delete it first")).toBeTruthy();
    expect(b.callsOf("restore_backup")).toEqual([["local", { snapshot: "4f6a2c19", request: { app: "blog", keep_tokens: false } }]]);

    // Deleted meanwhile: the second try runs, followed in the dialog.
    await click("restore-confirm");
    await waitFor(() => expect(byId("backup-run").dataset.state).toBe("running"));
    expect(screen.queryByTestId("restore-error")).toBeNull();
    expect(b.callsOf("restore_backup")[1]).toEqual(["local", { snapshot: "4f6a2c19", request: { app: "blog", keep_tokens: false } }]);
    expect(byId("backup-run-title").textContent).toBe("Restore of blog");
    expect(screen.queryByTestId("restore-open-app")).toBeNull();
    await waitFor(() => expect(byId("backup-run").dataset.state).toBe("succeeded"), FOLLOW);
    expect(lines()).toEqual(["snapshot 4f6a2c19 read back (2 app(s) inside, agent 0.1.0)", "volume blog_data: 52428800 bytes written back", "blog: versions 1 to 3, its deployments and domains are back", "deployment d-9 of version 3 queued"]);
    expect(byId("backup-run-outcome").textContent).toBe("blog is back from snapshot 4f6a2c19; its deployment is queued");

    b.on("get_app", uiError("not_found", "no app blog"));
    await click("restore-open-app");
    await waitFor(() => expect(screen.queryByTestId("restore-dialog")).toBeNull());
    expect(byId("nav-apps").dataset.active).toBe("true");
  });

  it("restores with the backed-up agent's tokens when asked", async () => {
    const { b } = setup({ snapshots: [snapshot("4f6a2c19", { apps: ["blog"] })] });
    b.on("restore_backup", { id: "r6" });
    b.on("get_backup_run", backupRun("r6", { kind: "restore", app: "blog", snapshot: "4f6a2c19" }));
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-snapshots-table");
    await click("snapshot-restore-4f6a2c19-blog");
    const keep = byId("restore-keep-tokens") as HTMLInputElement;
    expect(keep.checked).toBe(false);
    expect(keep.closest("label")?.textContent).toBe("Also bring back the backed-up agent's tokens");
    expect(byId("restore-keep-tokens-hint").textContent).toBe("So the clients that held them work here too; else only this agent's own tokens work here.");
    fireEvent.click(keep);
    expect(keep.checked).toBe(true);
    await click("restore-confirm");
    expect(b.callsOf("restore_backup")).toEqual([["local", { snapshot: "4f6a2c19", request: { app: "blog", keep_tokens: true } }]]);
  });

  it("sets a new repository on the server, shows its key once and where it is kept, then the tab", async () => {
    const { b } = setupNone();
    b.repositoryAnswers = [repositorySet()];
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-repository-form");
    expect(byId("backup-repository-location").getAttribute("placeholder")).toBe("/var/backups/appos or sftp://backup@vault:22//srv/appos");
    expect((byId("backup-repository-key") as HTMLInputElement).type).toBe("password");
    expect(byId("backup-repository-form").textContent).toContain("Only to open an existing repository; leave empty to make a new one.");
    // Not over SFTP: no host key, no SSH key to add.
    expect(screen.queryByTestId("backup-repository-host-key")).toBeNull();
    expect(screen.queryByTestId("backup-repository-ssh-key")).toBeNull();
    expect((byId("backup-repository-set") as HTMLButtonElement).disabled).toBe(true);
    expect(byId("backup-repository-set").textContent).toBe("Set repository");
    // The CLI stays as a hint.
    expect(byId("backups-repository-command").textContent).toBe("appos backup repository /var/backups/appos");

    fill("backup-repository-location", "  /var/backups/appos ");
    expect((byId("backup-repository-set") as HTMLButtonElement).disabled).toBe(false);
    const reads = b.callsOf("list_snapshots").length;
    await click("backup-repository-set");
    expect(b.callsOf("setBackupRepository")).toEqual([["local", { location: "/var/backups/appos", key: null, host_key: null }]]);

    const notice = await screen.findByTestId("backup-repository-notice");
    expect(byId("backup-repository-notice-title").textContent).toBe("Backups go to /var/backups/appos");
    expect(byId("backup-repository-new").textContent).toBe("A new repository. Its key:");
    expect(byId("backup-repository-new-key").textContent).toBe(KEY);
    expect(byId("backup-repository-new-key").className).toContain("select-all");
    expect(byId("backup-repository-key-kept").textContent).toBe("Kept in this computer's keyring.");
    expect(byId("backup-repository-key-away").textContent).toBe("Keep a copy away from this computer too: a restore on a new server needs it.");
    expect(within(notice).queryByTestId("backup-repository-pinned")).toBeNull();
    expect(within(notice).queryByTestId("backup-repository-used-kept-key")).toBeNull();

    // The tab reads everything again: the repository, the schedule and snapshots.
    await screen.findByTestId("backup-schedule-text");
    expect(b.callsOf("list_snapshots").length).toBeGreaterThan(reads);
    expect(screen.queryByTestId("backups-no-repository")).toBeNull();
    expect(byId("backup-snapshots").textContent).toContain("No snapshots yet");
    await waitFor(() => expect(byId("backup-repository-info-location").textContent).toBe("/var/backups/appos"));
    expect(screen.queryByTestId("backup-repository-info-host-key")).toBeNull();

    // It stays until dismissed, also when the tab is left and opened again.
    await click("nav-apps");
    await click("nav-backups");
    expect((await screen.findByTestId("backup-repository-new-key")).textContent).toBe(KEY);
    await click("backup-repository-notice-dismiss");
    expect(screen.queryByTestId("backup-repository-notice")).toBeNull();

    // The key was kept on this computer: Show key reads it back.
    await click("backup-repository-show-key");
    expect((await screen.findByTestId("backup-repository-kept-key")).textContent).toBe(KEY);
  });

  it("shows the agent's field error under its input, and nothing else changes", async () => {
    const { b } = setupNone();
    const refused = "vault refused the agent's SSH key: add this line to backup's ~/.ssh/authorized_keys there: ssh-ed25519 AAAA... appos-agent@web-1";
    b.repositoryAnswers = [uiError("invalid_input", `Invalid input: location: ${refused}`, [{ field: "location", message: refused }])];
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-repository-form");
    fill("backup-repository-location", "sftp:backup@vault:/srv/appos");
    fill("backup-repository-key", "correct horse battery staple");
    const reads = b.callsOf("list_snapshots").length;
    await click("backup-repository-set");
    expect(b.callsOf("setBackupRepository")).toEqual([["local", { location: "sftp:backup@vault:/srv/appos", key: "correct horse battery staple", host_key: null }]]);

    expect((await screen.findByTestId("backup-repository-location-error")).textContent).toBe(refused);
    expect(byId("backup-repository-location").getAttribute("aria-invalid")).toBe("true");
    expect(byId("backup-repository-location").parentElement?.contains(byId("backup-repository-location-error"))).toBe(true);
    for (const id of ["backup-repository-error", "backup-repository-key-error", "backup-repository-host-key-error", "backup-repository-notice", "backup-schedule"]) expect(screen.queryByTestId(id)).toBeNull();
    expect(value("backup-repository-location")).toBe("sftp:backup@vault:/srv/appos");
    expect(value("backup-repository-key")).toBe("correct horse battery staple");
    expect(byId("backups-no-repository-message").textContent).toBe("No backup repository is set: set one with appos backup repository PATH");
    expect(b.callsOf("list_snapshots")).toHaveLength(reads);
    expect((byId("backup-repository-set") as HTMLButtonElement).disabled).toBe(false);

    // Editing the location clears its error.
    fill("backup-repository-location", "sftp:backup@vault:/srv/appos2");
    expect(screen.queryByTestId("backup-repository-location-error")).toBeNull();
    expect(byId("backup-repository-location").getAttribute("aria-invalid")).toBe("false");
  });

  it("asks for the host key and shows the agent's SSH key for an sftp location", async () => {
    const { b } = setupNone();
    const location = "sftp://backup@vault:22//srv/appos";
    b.repositoryAnswers = [
      uiError("invalid_input", `Invalid input: host_key: vault:22 shows ${FP} (ssh-ed25519), not SHA256:xyz`, [{ field: "host_key", message: `vault:22 shows ${FP} (ssh-ed25519), not SHA256:xyz` }]),
      repositorySet({ repository: { location, host_key: FP } }),
    ];
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-repository-form");
    fill("backup-repository-location", "/srv/appos");
    expect(screen.queryByTestId("backup-repository-host-key")).toBeNull();
    fill("backup-repository-location", location);
    expect(byId("backup-repository-host-key").getAttribute("placeholder")).toBe("SHA256:…");
    expect(byId("backup-repository-ssh-key").textContent).toBe(agentSshKey("local"));
    expect(byId("backup-repository-ssh-key").className).toContain("select-all");
    expect(byId("backup-repository-ssh-key-copy").textContent).toBe("Copy");
    expect(byId("backup-repository-ssh-hint").textContent).toBe("Add this line to that user's ~/.ssh/authorized_keys on the backup host.");

    fill("backup-repository-host-key", " SHA256:xyz ");
    await click("backup-repository-set");
    expect((await screen.findByTestId("backup-repository-host-key-error")).textContent).toBe(`vault:22 shows ${FP} (ssh-ed25519), not SHA256:xyz`);
    expect(byId("backup-repository-host-key").getAttribute("aria-invalid")).toBe("true");
    expect(screen.queryByTestId("backup-repository-location-error")).toBeNull();
    expect(screen.queryByTestId("backup-repository-error")).toBeNull();
    expect(b.callsOf("setBackupRepository")).toEqual([["local", { location, key: null, host_key: "SHA256:xyz" }]]);

    fill("backup-repository-host-key", FP);
    await click("backup-repository-set");
    expect(b.callsOf("setBackupRepository")[1]).toEqual(["local", { location, key: null, host_key: FP }]);
    expect((await screen.findByTestId("backup-repository-key-kept")).textContent).toBe("Kept in this computer's keyring.");
    // The host key was given: nothing to check.
    expect(screen.queryByTestId("backup-repository-pinned")).toBeNull();
    await waitFor(() => expect(byId("backup-repository-info-location").textContent).toBe(location));
    expect(byId("backup-repository-info-host-key").textContent).toBe(`Host key pinned: ${FP}`);
  });

  it("says where a key is kept without a keyring, a key not kept, a kept key used, a host key pinned, and a refusal", async () => {
    const { b } = setupNone();
    b.repositoryAnswers = [
      { ...uiError("conflict", "A repository exists there: a repository exists at /srv/appos: give its key"), problem: "repository_exists" },
      repositorySet({ repository: { location: "/srv/appos" }, key_kept: "/home/ann/.config/appos/backup-keys/local" }),
    ];
    renderServer(b, { view: "backups" });
    await screen.findByTestId("backup-repository-form");
    fill("backup-repository-location", "/srv/appos");
    await click("backup-repository-set");
    expect((await screen.findByTestId("backup-repository-error")).textContent).toBe("A repository exists there: a repository exists at /srv/appos: give its key");
    expect(screen.queryByTestId("backup-repository-notice")).toBeNull();
    await click("backup-repository-set");
    expect((await screen.findByTestId("backup-repository-key-kept")).textContent).toBe("Kept in /home/ann/.config/appos/backup-keys/local (no OS keyring here).");
    expect(screen.queryByTestId("backup-repository-error")).toBeNull();
    await click("backup-repository-notice-dismiss");

    // Another server, each case in turn.
    const cases: [Parameters<typeof repositorySet>[0], string, string][] = [
      [{ key_kept: null }, "backup-repository-key-kept", "Not kept on this computer: copy it now."],
      [{ repository: { created: false, key: null }, used_kept_key: true }, "backup-repository-used-kept-key", "Opened with the key kept on this computer."],
      [{ repository: { location: "sftp:backup@vault:/srv/appos", host_key: FP } }, "backup-repository-pinned", `Host key pinned: ${FP}; check it is the backup host's.`],
    ];
    for (const [over, id, text] of cases) {
      cleanup();
      const { b } = setupNone();
      b.repositoryAnswers = [repositorySet(over)];
      renderServer(b, { view: "backups" });
      await screen.findByTestId("backup-repository-form");
      fill("backup-repository-location", over?.repository?.location ?? "/var/backups/appos");
      await click("backup-repository-set");
      expect((await screen.findByTestId(id)).textContent).toBe(text);
    }
  });

  it("shows the repository set and, asked, the key this computer keeps for it", async () => {
    const { b } = setup();
    b.repositories.local = { location: "sftp:backup@vault:/srv/appos", host_key: FP, ssh_public_key: agentSshKey("local") };
    b.backupKeys.local = KEY;
    renderServer(b, { view: "backups" });
    expect((await screen.findByTestId("backup-repository-info-location")).textContent).toBe("sftp:backup@vault:/srv/appos");
    expect(byId("backup-repository-info-host-key").textContent).toBe(`Host key pinned: ${FP}`);
    expect(screen.queryByTestId("backup-repository-kept-key")).toBeNull();
    expect(b.callsOf("backupKey")).toHaveLength(0);

    await click("backup-repository-show-key");
    expect((await screen.findByTestId("backup-repository-kept-key")).textContent).toBe(KEY);
    expect(byId("backup-repository-kept-key").className).toContain("select-all");
    expect(b.callsOf("backupKey")).toEqual([["local"]]);
    await click("backup-repository-hide-key");
    expect(screen.queryByTestId("backup-repository-kept-key")).toBeNull();

    // Not kept here.
    delete b.backupKeys.local;
    await click("backup-repository-show-key");
    expect((await screen.findByTestId("backup-repository-kept-key-none")).textContent).toBe("This computer does not keep this repository's key.");
    expect(screen.queryByTestId("backup-repository-kept-key")).toBeNull();
    await click("backup-repository-hide-key");

    // The keyring refused.
    b.backupKeys.local = uiError("other", "the OS keyring is locked");
    await click("backup-repository-show-key");
    const failed = await screen.findByTestId("backup-repository-kept-key-error");
    expect(within(failed).getByText("Could not read the key")).toBeTruthy();
    expect(within(failed).getByText("the OS keyring is locked")).toBeTruthy();
  });

  it("says how to set a repository when none is set", async () => {
    const { b } = setup();
    b.on("get_backup_schedule", noRepository);
    b.on("list_snapshots", noRepository);
    renderServer(b, { view: "backups" });
    const empty = await screen.findByTestId("backups-no-repository");
    expect(empty.textContent).toContain("Backups are not set up on this server");
    expect(byId("backups-no-repository-message").textContent).toBe("No backup repository is set: set one with appos backup repository PATH");
    expect(within(byId("backups-no-repository-message")).getByText("appos backup repository PATH").tagName).toBe("CODE");
    expect(byId("backups-repository-command").textContent).toBe("appos backup repository /var/backups/appos");
    for (const id of ["backup-schedule", "backup-now", "backup-snapshots", "backup-runs"]) expect(screen.queryByTestId(id)).toBeNull();
  });

  it("names the server in the command for a remote server", async () => {
    const { b } = setup();
    b.apps.prod = [];
    b.on("list_snapshots", noRepository);
    renderServer(b, { view: "backups" }, { server: "prod" });
    expect((await screen.findByTestId("backups-repository-command")).textContent).toBe("appos --server prod backup repository /var/backups/appos");
  });
});
