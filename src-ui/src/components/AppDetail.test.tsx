import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { AppVersion, AuditEntry } from "../api/types.gen";
import { access, app, deployment, FakeBackend, noRepository, snapshot, uiError } from "../test/fakeBackend";
import { AUDIT_PAGE } from "./Activity";
import { byId, connected, renderServer } from "../test/render";

afterEach(cleanup);

function setup(managed = true) {
  const b = new FakeBackend();
  b.apps.local = [app("blog", { managed })];
  b.on("get_app", app("blog", { managed }));
  b.on("get_deployment", ({ id }) => deployment(id, { state: "queued" }));
  b.on("list_versions", [version(1)]);
  b.on("list_audit", []);
  b.on("get_app_stats", { app: "blog", containers: [] });
  b.on("list_snapshots", []);
  return b;
}

const version = (n: number, over: Partial<AppVersion> = {}): AppVersion => ({ version: n, author: "desktop", message: `v${n}`, created_at: 1_700_000_000 + n, digests: {}, host_access: [], files: {}, ...over });
const entry = (id: number, over: Partial<AuditEntry> = {}): AuditEntry => ({
  id,
  at: Math.floor(Date.now() / 1000) - 600,
  actor: "appos-desktop@laptop",
  action: "app.start",
  app: "blog",
  detail: `entry ${id}`,
  host_access: [],
  ...over,
});

async function click(testId: string) {
  const el = await screen.findByTestId(testId);
  await act(async () => fireEvent.click(el));
}

describe("App detail", () => {
  it("shows services, containers, ports and files", async () => {
    const b = setup();
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await waitFor(() => expect(byId("app-state").textContent).toBe("running"));
    expect(byId("app-title").textContent).toBe("blog");
    expect(byId("container-blog-web-1").textContent).toContain("nginx:1.27");
    expect(byId("container-blog-db-1").textContent).toContain("Up 5 minutes (healthy)");
    expect(byId("app-ports").textContent).toContain("0.0.0.0:8080→80/tcp");
    expect(byId("app-working-dir").textContent).toBe("/var/lib/appos/apps/blog");
    for (const t of ["tab-overview", "tab-logs", "tab-compose", "tab-history", "tab-deployments"]) expect(byId(t)).toBeTruthy();
  });

  it("follows container events of this app", async () => {
    const b = setup();
    b.on("get_app", app("blog"), app("blog", { state: "stopped" }));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    const events = await connected(b);
    await waitFor(() => expect(byId("app-state").textContent).toBe("running"));
    events.event("container", "blog", { action: "stop" });
    await waitFor(() => expect(byId("app-state").textContent).toBe("stopped"));
  });

  it("runs an action and opens its deployment", async () => {
    const b = setup();
    b.on("run_app_action", deployment("d-restart", { operation: "restart", state: "queued" }));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-restart");
    expect(b.callsOf("run_app_action")).toEqual([["local", { app: "blog", action: "restart" }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-restart"));
    // Back returns to the app.
    fireEvent.click(byId("nav-back"));
    expect(await screen.findByTestId("app-detail")).toBeTruthy();
  });

  it("redeploys through a new version's deployment", async () => {
    const b = setup();
    b.on("redeploy_app", { app: "blog", version: 3, deployment_id: "d-redeploy" });
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-redeploy");
    expect(b.callsOf("redeploy_app")).toEqual([["local", { app: "blog" }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-redeploy"));
  });

  it("asks before deleting, with the volumes choice", async () => {
    const b = setup();
    b.on("delete_app", deployment("d-del", { operation: "delete", state: "queued" }));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-delete");
    expect(b.callsOf("delete_app")).toHaveLength(0);
    const volumes = byId("delete-volumes") as HTMLInputElement;
    expect(volumes.checked).toBe(false);
    fireEvent.click(volumes);
    await click("delete-confirm");
    expect(b.callsOf("delete_app")).toEqual([["local", { app: "blog", volumes: true }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-del"));
  });

  it("shows a failed action next to the actions", async () => {
    const b = setup();
    b.on("run_app_action", uiError("docker_unavailable", "Docker is not reachable"));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-stop");
    const err = await screen.findByTestId("action-error");
    expect(err.textContent).toContain("Could not stop blog");
    expect(err.textContent).toContain("Docker is not reachable");
    expect(screen.getByTestId("app-detail")).toBeTruthy();
  });

  it("offers no actions, versions or compose for an app created outside AppOS", async () => {
    const b = setup(false);
    renderServer(b, { view: "app", app: "blog", tab: "compose" });
    expect(await screen.findByTestId("app-unmanaged-note")).toBeTruthy();
    expect(screen.queryByTestId("action-start")).toBeNull();
    expect(screen.queryByTestId("action-delete")).toBeNull();
    expect(screen.queryByTestId("tab-compose")).toBeNull();
    expect(screen.queryByTestId("tab-history")).toBeNull();
    expect(byId("tab-logs")).toBeTruthy();
    expect(byId("app-overview")).toBeTruthy();
    expect(b.callsOf("list_versions")).toHaveLength(0);
  });

  it("shows the host access of the newest version and the app's activity", async () => {
    const b = setup();
    const sock = access("docker_socket", "web", "/var/run/docker.sock");
    const tun = access("device", "vpn", "/dev/net/tun");
    b.on("list_versions", [version(1, { host_access: [tun] }), version(3, { host_access: [sock, tun] }), version(2)]);
    b.on("list_audit", [
      entry(12, { action: "app.version", actor: "appos-cli@ci", detail: "saved version 3 and deployed it", host_access: [sock] }),
      entry(11, { action: "terminal.open", detail: "shell in web" }),
    ]);
    renderServer(b, { view: "app", app: "blog", tab: "overview" });

    const section = await screen.findByTestId("app-host-access");
    await waitFor(() => expect(within(section).getAllByTestId("host-access-item")).toHaveLength(2));
    expect(section.textContent).toContain("Host access");
    expect(section.textContent).toContain("granted to version 3");
    expect(within(section).getAllByTestId("host-access-item").map((e) => e.querySelector("p")?.textContent)).toEqual([
      "web controls Docker through /var/run/docker.sock, which is root on the server",
      "vpn can use the server's device /dev/net/tun",
    ]);
    expect(within(section).getAllByTestId("host-access-root")).toHaveLength(1);

    const activity = await screen.findByTestId("app-activity-table");
    expect(b.callsOf("list_audit")).toEqual([["local", { app: "blog", before: null, limit: AUDIT_PAGE }]]);
    const row = byId("audit-12");
    expect(row.textContent).toContain("10 min ago");
    expect(row.textContent).toContain("appos-cli@ci");
    expect(row.textContent).toContain("app.version");
    expect(row.textContent).toContain("saved version 3 and deployed it");
    expect(row.textContent).toContain("web controls Docker through /var/run/docker.sock, which is root on the server");
    expect(byId("audit-11").textContent).toContain("terminal.open");
    expect(within(byId("audit-11")).queryByTestId("host-access-item")).toBeNull();
    expect(within(activity).getAllByRole("row")).toHaveLength(3); // with the header
    expect(screen.queryByTestId("app-activity-older")).toBeNull();
  });

  it("says when an app reaches only its own folder, and pages through older activity", async () => {
    const b = setup();
    const page1 = Array.from({ length: AUDIT_PAGE }, (_, i) => entry(100 - i));
    b.on("list_audit", ({ before }) => (before === null ? page1 : [entry(before - 1, { detail: "the oldest" })]));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    expect((await screen.findByTestId("app-host-access-none")).textContent).toBe("None: this app reaches only its own folder and volumes.");
    await screen.findByTestId("audit-100");
    await act(async () => fireEvent.click(byId("app-activity-older")));
    expect(b.callsOf("list_audit")[1]).toEqual(["local", { app: "blog", before: 100 - AUDIT_PAGE + 1, limit: AUDIT_PAGE }]);
    expect((await screen.findByTestId(`audit-${100 - AUDIT_PAGE}`)).textContent).toContain("the oldest");
    expect(screen.queryByTestId("app-activity-older")).toBeNull();
  });

  it("says when the app was last backed up, and again after a backup", async () => {
    const now = Date.now();
    const b = setup();
    b.on("list_snapshots", [], [
      snapshot("1a2b3c4d", { time_ms: now - 27 * 3600_000, apps: ["blog", "shop"] }),
      snapshot("4f6a2c19", { time_ms: now - 3 * 3600_000 - 5000, apps: ["blog"] }),
      snapshot("9e8d7c6b", { time_ms: now - 60_000, apps: ["shop"] }),
    ]);
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    const events = await connected(b);
    expect((await screen.findByTestId("app-last-backup")).textContent).toBe("Not backed up yet");

    events.event("backup", null, { run: "r1", kind: "backup", state: "succeeded", app: null });
    await waitFor(() => expect(byId("app-last-backup").textContent).toBe("Last backup: 3 h ago (snapshot 4f6a2c19)"));
    expect(b.callsOf("list_snapshots")).toEqual([["local", {}], ["local", {}]]);

    await click("app-last-backup-open");
    expect(byId("nav-backups").dataset.active).toBe("true");
  });

  it("says nothing of backups without a repository, nor for an app created outside AppOS", async () => {
    const b = setup();
    b.on("list_snapshots", noRepository);
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await screen.findByTestId("app-containers");
    await waitFor(() => expect(b.callsOf("list_snapshots")).toHaveLength(1));
    await act(async () => undefined);
    expect(screen.queryByTestId("app-last-backup")).toBeNull();
    expect(screen.queryByTestId("app-last-backup-error")).toBeNull();
    cleanup();

    const u = setup(false);
    u.on("list_snapshots", [snapshot("4f6a2c19", { apps: ["blog"] })]);
    renderServer(u, { view: "app", app: "blog", tab: "overview" });
    await screen.findByTestId("app-unmanaged-note");
    expect(screen.queryByTestId("app-last-backup")).toBeNull();
    expect(u.callsOf("list_snapshots")).toHaveLength(0);
  });

  it("says quietly when the backups cannot be read", async () => {
    const b = setup();
    b.on("list_snapshots", uiError("unreachable", "the connection to web-1 broke"));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    expect((await screen.findByTestId("app-last-backup-error")).textContent).toBe("Could not read the backups: the connection to web-1 broke");
  });
});
