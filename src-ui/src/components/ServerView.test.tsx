import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { app, deployment, FakeBackend, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

afterEach(() => {
  vi.useRealTimers();
  cleanup();
});

/** Fake time passes: the timers due run, and what they started settles. */
async function pass(ms: number) {
  await act(() => vi.advanceTimersByTimeAsync(ms));
  await act(() => vi.advanceTimersByTimeAsync(0));
}

describe("Apps list", () => {
  it("refreshes on container and deployment events, not on others", async () => {
    const b = new FakeBackend();
    b.apps.local = [app("blog")];
    renderServer(b);
    const events = await connected(b);
    expect(events.req).toEqual({ type: "events", after: -1 });
    expect(byId("app-state-blog").textContent).toBe("running");
    expect(byId("live-status").dataset.state).toBe("live");
    const lists = () => b.callsOf("list_apps").length;
    const before = lists();

    b.apps.local = [app("blog", { state: "degraded" })];
    events.event("deployment_step", "blog", { deployment: "d", step: "pull", state: "succeeded" });
    await new Promise((r) => setTimeout(r, 400));
    expect(lists()).toBe(before);

    // A burst of events gives one refresh.
    events.event("container", "blog", { action: "die", container: "blog-web-1" });
    events.event("container", "blog", { action: "start", container: "blog-web-1" });
    await waitFor(() => expect(byId("app-state-blog").textContent).toBe("degraded"));
    expect(lists()).toBe(before + 1);
  });

  it("closes its stream when it goes away", async () => {
    const b = new FakeBackend();
    const { unmount } = render(<App backend={b} />);
    // The view's, and the one that notifies the server's alerts.
    await waitFor(() => expect(b.openStreams("events")).toHaveLength(2));
    const events = b.openStreams("events");
    unmount();
    expect(events.every((s) => s.closed)).toBe(true);
    expect(b.openStreams()).toHaveLength(0);
  });

  it("reconnects a broken stream after a delay, resuming after the last event", async () => {
    const b = new FakeBackend();
    renderServer(b);
    const events = await connected(b);
    events.event("container", "blog", { action: "start" }, 42);
    events.end(uiError("unreachable", "the SSH connection dropped"));
    expect(byId("live-status").dataset.state).toBe("retrying");
    expect(byId("live-status").title).toBe("Live updates interrupted: the SSH connection dropped");
    await waitFor(() => expect(b.streams.filter((s) => s.req.type === "events")).toHaveLength(2), { timeout: 2500 });
    expect(b.stream("events").req).toEqual({ type: "events", after: 42 });
    await waitFor(() => expect(byId("live-status").dataset.state).toBe("live"));
  });

  it("says when the next try is while reconnecting, counting down, with longer waits while it fails", async () => {
    const b = new FakeBackend();
    renderServer(b);
    const events = await connected(b);
    await waitFor(() => expect(byId("live-status").dataset.state).toBe("live"));
    const streams = () => b.streams.filter((s) => s.req.type === "events");
    vi.useFakeTimers();
    events.end(uiError("unreachable", "the SSH connection dropped"));
    expect(byId("live-status").dataset.state).toBe("retrying");
    expect(byId("live-text").textContent).toBe("Reconnecting in 1 s");
    expect(byId("live-status").title).toBe("Live updates interrupted: the SSH connection dropped");
    await pass(999);
    expect(streams()).toHaveLength(1);
    await pass(1);
    expect(streams()).toHaveLength(2);
    expect(byId("live-text").textContent).toBe("Live");

    // Broken again at once: twice the wait, counted down.
    b.stream("events").end(uiError("unreachable", "connection refused"));
    expect(byId("live-text").textContent).toBe("Reconnecting in 2 s");
    expect(byId("live-status").title).toBe("Live updates interrupted: connection refused");
    await pass(1000);
    expect(byId("live-text").textContent).toBe("Reconnecting in 1 s");
    expect(streams()).toHaveLength(2);
    await pass(1000);
    expect(streams()).toHaveLength(3);
    expect(byId("live-status").dataset.state).toBe("live");
  });

  it("stops retrying on a changed host key, says why with a Retry, which reconnects", async () => {
    const b = new FakeBackend();
    renderServer(b);
    const events = await connected(b);
    await waitFor(() => expect(byId("live-status").dataset.state).toBe("live"));
    events.event("container", "blog", { action: "start" }, 7);
    const streams = () => b.streams.filter((s) => s.req.type === "events");
    vi.useFakeTimers();
    events.end(uiError("host_key_changed", "the host key of local changed: it may be an attack"));
    expect(byId("live-status").dataset.state).toBe("failed");
    expect(byId("live-text").textContent).toBe("Disconnected: the host key of local changed: it may be an attack");
    expect(byId("live-status").title).toBe("Host key changed: the host key of local changed: it may be an attack");
    expect(byId("live-retry").textContent).toBe("Retry");
    await pass(120_000);
    expect(streams()).toHaveLength(1);
    expect(byId("live-text").textContent).toBe("Disconnected: the host key of local changed: it may be an attack");

    // The user checked the key: Retry opens the stream again, after the last event seen.
    fireEvent.click(byId("live-retry"));
    await pass(0);
    expect(streams()).toHaveLength(2);
    expect(b.stream("events").req).toEqual({ type: "events", after: 7 });
    expect(byId("live-status").dataset.state).toBe("live");
    expect(byId("live-text").textContent).toBe("Live");
    expect(screen.queryByTestId("live-retry")).toBeNull();
    // Other errors keep retrying as before.
    b.stream("events").end(uiError("unreachable", "connection reset"));
    expect(byId("live-text").textContent).toBe("Reconnecting in 1 s");
    await pass(1000);
    expect(streams()).toHaveLength(3);
  });

  it("opens an app from its row", async () => {
    const b = new FakeBackend();
    b.apps.local = [app("blog")];
    b.on("get_app", app("blog"));
    renderServer(b);
    fireEvent.click(await screen.findByTestId("app-row-blog"));
    expect((await screen.findByTestId("app-title")).textContent).toBe("blog");
    expect(b.callsOf("get_app")).toEqual([["local", { app: "blog" }]]);
  });

  it("says why an app with no containers is not running, in the list and on its page", async () => {
    const b = new FakeBackend();
    const empty = { state: "empty" as const, services: [] };
    const apps = [
      app("idle", { ...empty, last_deployment: { id: "d-1", operation: "stop", state: "succeeded", error: null } }),
      app("broken", { ...empty, last_deployment: { id: "d-2", operation: "deploy", state: "failed", error: "pull: manifest unknown" } }),
      app("never", { ...empty, last_deployment: null }),
    ];
    b.apps.local = apps;
    b.on("get_app", ({ app: name }) => apps.find((a) => a.name === name) ?? uiError("not_found", `no app ${name}`));
    renderServer(b);
    await screen.findByTestId("app-row-broken");
    expect(byId("app-state-idle").textContent).toBe("not running");
    expect(byId("app-state-broken").textContent).toBe("last deployment failed");
    expect(byId("app-state-never").textContent).toBe("not running");

    fireEvent.click(byId("app-row-broken"));
    await waitFor(() => expect(byId("app-state").textContent).toBe("last deployment failed"));
    fireEvent.click(byId("nav-back"));
    fireEvent.click(await screen.findByTestId("app-row-idle"));
    await waitFor(() => expect(byId("app-title").textContent).toBe("idle"));
    await waitFor(() => expect(byId("app-state").textContent).toBe("not running"));
    expect(b.callsOf("get_app")).toEqual([
      ["local", { app: "broken" }],
      ["local", { app: "idle" }],
    ]);
  });

  it("notifies a deployment that ends, once, from the events stream", async () => {
    const b = new FakeBackend();
    renderServer(b);
    const events = await connected(b);
    events.event("deployment", "blog", { deployment: "d-9", state: "running", operation: "deploy", version: 2, error: null });
    events.event("deployment", "blog", { deployment: "d-9", state: "failed", operation: "deploy", version: 2, error: "pull: manifest unknown" });
    events.event("deployment", "blog", { deployment: "d-9", state: "failed", operation: "deploy", version: 2, error: "pull: manifest unknown" });
    events.event("deployment", "shop", { deployment: "d-10", state: "succeeded", operation: "restart", version: 1, error: null });
    expect(b.notifications.map((n) => n.title)).toEqual(["blog failed: pull: manifest unknown", "shop restarted"]);
  });

  it("lists the domains again when a certificate alert arrives, and leaves its notification to the alert watcher", async () => {
    const b = new FakeBackend();
    b.apps.prod = [];
    b.on("list_domains", []);
    renderServer(b, { view: "apps" }, { server: "prod" });
    const events = await connected(b);
    await waitFor(() => expect(b.callsOf("list_domains").length).toBeGreaterThan(0));
    const before = b.callsOf("list_domains").length;
    // (A listing started less than 2 s ago is fresh enough.)
    await new Promise((r) => setTimeout(r, 2100));
    events.event("alert", null, { notice: "firing", alert: { rule: "certificate_expiring", subject: "blog.example.com" } });
    await waitFor(() => expect(b.callsOf("list_domains").length).toBe(before + 1), { timeout: 4000 });
    // Another rule's alert is not about the domains.
    events.event("alert", "blog", { notice: "firing", alert: { rule: "restart_loop", subject: "blog_web_1" } });
    await new Promise((r) => setTimeout(r, 2100));
    expect(b.callsOf("list_domains").length).toBe(before + 1);
    expect(b.notifications).toEqual([]);
  });

  it("lists deployments and opens one", async () => {
    const b = new FakeBackend();
    const old = deployment("d-old", { state: "succeeded", created_ms: Date.now() - 3_600_000, finished_ms: Date.now() - 3_590_000, version: 1 });
    const cur = deployment("d-new", { state: "failed", error: "boom", version: 2, operation: "update" });
    b.on("list_deployments", [old, cur]);
    b.on("get_deployment", cur);
    renderServer(b);
    await connected(b);
    fireEvent.click(byId("nav-deployments"));
    const rows = await screen.findAllByTestId(/^deployment-row-d-/);
    expect(rows.map((r) => r.dataset.testid)).toEqual(["deployment-row-d-new", "deployment-row-d-old"]);
    expect(rows[0].textContent).toContain("update");
    expect(rows[0].textContent).toContain("v2");
    expect(byId("deployment-row-state-d-new").textContent).toBe("failed");
    expect(rows[1].textContent).toContain("10 s");
    fireEvent.click(rows[0]);
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("failed"));
    // The tab bar keeps each section's last view; Apps is where it was.
    fireEvent.click(byId("nav-apps"));
    expect(await screen.findByText("No apps on this server yet")).toBeTruthy();
    fireEvent.click(byId("nav-deployments"));
    expect(byId("deployment-view").dataset.id).toBe("d-new");
  });
});
