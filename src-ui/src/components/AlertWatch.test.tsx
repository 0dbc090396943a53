import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { App } from "../App";
import type { Event } from "../api/types.gen";
import { newSession } from "../lib/session";
import { alert, FakeBackend, localServer, uiError } from "../test/fakeBackend";

afterEach(cleanup);

const remote = (name: string, connected: boolean) => ({ name, url: `ssh://root@${name}.example.com:22`, local: false, host_key: "SHA256:x", connected });

/** The events streams open for a server. */
const eventStreams = (b: FakeBackend, server: string) => b.openStreams("events").filter((s) => s.server === server);

let ids = 5000;
/** An `alert` event carrying a notice of `a`, as the agent publishes it. */
function alertEvent(notice: "firing" | "repeat" | "resolved", a = alert(7), at_ms = Date.now()): Event {
  return { id: ++ids, at_ms, kind: "alert", app: a.app, data: { notice, server: "box", alert: a } };
}

describe("Alert notifications", () => {
  it("notifies each notice of a connected server off screen once, not old ones, not certificates", async () => {
    const b = new FakeBackend();
    b.servers = [localServer, remote("prod", false), remote("staging", true)];
    b.apps = { local: [], prod: [], staging: [] };
    const session = newSession();
    render(<App backend={b} session={session} />);
    // This computer is on screen; staging is connected, prod is not.
    await waitFor(() => expect(screen.getByTestId("server-title").textContent).toBe("This computer"));
    await waitFor(() => expect(eventStreams(b, "staging")).toHaveLength(1));
    expect(eventStreams(b, "prod")).toHaveLength(0);
    const staging = eventStreams(b, "staging")[0];
    expect(staging.req).toEqual({ type: "events", after: -1 });

    const loop = alert(7, { notices: 1 });
    staging.push({ type: "event", event: alertEvent("firing", loop) });
    expect(b.notifications).toEqual([{ title: "Critical: restart loop on staging: blog-web-1", body: "blog-web-1 (blog/web) exited 4 times in the last 10 min" }]);

    // The same notice again (a replay): nothing more. Its repeat is news.
    staging.push({ type: "event", event: alertEvent("firing", loop) });
    staging.push({ type: "event", event: alertEvent("repeat", { ...loop, notices: 2 }) });
    expect(b.notifications.map((n) => n.title)).toEqual(["Critical: restart loop on staging: blog-web-1", "Critical: restart loop on staging: blog-web-1 (still)"]);

    // From before the session began: history. Certificates: their own notices say it.
    staging.push({ type: "event", event: alertEvent("firing", alert(8, { rule: "unhealthy" }), session.startedMs - 3_600_000) });
    staging.push({ type: "event", event: alertEvent("firing", alert(9, { rule: "certificate_expiring", subject: "blog.example.com" })) });
    staging.event("container", "blog", { action: "die" });
    expect(b.notifications).toHaveLength(2);

    staging.push({ type: "event", event: alertEvent("resolved", { ...loop, state: "resolved", notices: 3 }) });
    expect(b.notifications[2]).toEqual({ title: "Resolved: restart loop on staging: blog-web-1", body: "blog-web-1 (blog/web) exited 4 times in the last 10 min" });
  });

  it("notifies the server on screen once though its view has a stream too, and keeps watching it off screen", async () => {
    const b = new FakeBackend();
    b.servers = [localServer, remote("prod", false)];
    b.apps = { local: [], prod: [] };
    render(<App backend={b} />);
    // prod alone is remote: it opens first. Its view's stream and its watcher.
    await waitFor(() => expect(screen.getByTestId("server-status-prod").dataset.status).toBe("connected"));
    await waitFor(() => expect(eventStreams(b, "prod")).toHaveLength(2));
    expect(eventStreams(b, "local")).toHaveLength(0);

    const e = alertEvent("firing", alert(3, { rule: "memory_high", subject: "shop-worker-1", severity: "warning", summary: "shop-worker-1 (shop/worker) uses 470 MiB of its 512 MiB memory limit (92%)" }));
    for (const s of eventStreams(b, "prod")) s.push({ type: "event", event: e });
    expect(b.notifications).toEqual([{ title: "Memory near its limit on prod: shop-worker-1", body: "shop-worker-1 (shop/worker) uses 470 MiB of its 512 MiB memory limit (92%)" }]);

    // Another server on screen: prod's watcher stays, alone; this computer gets its own.
    await act(async () => fireEvent.click(screen.getByTestId("server-local")));
    await waitFor(() => expect(screen.getByTestId("server-status-local").dataset.status).toBe("connected"));
    await waitFor(() => expect(eventStreams(b, "local")).toHaveLength(2));
    expect(eventStreams(b, "prod")).toHaveLength(1);
    // The one it had: none was opened again.
    expect(b.streams.filter((s) => s.server === "prod" && s.req.type === "events")).toHaveLength(2);
    const prod = eventStreams(b, "prod")[0];
    prod.push({ type: "event", event: alertEvent("repeat", { ...alert(3, { rule: "memory_high", subject: "shop-worker-1", severity: "critical", summary: "at 99%" }), notices: 2 }) });
    expect(b.notifications[1]).toEqual({ title: "Critical: memory near its limit on prod: shop-worker-1 (still)", body: "at 99%" });

    // Back on prod: still one watcher, and the notice seen is not notified again.
    await act(async () => fireEvent.click(screen.getByTestId("server-prod")));
    await waitFor(() => expect(eventStreams(b, "prod")).toHaveLength(2));
    expect(eventStreams(b, "local")).toHaveLength(1);
    for (const s of eventStreams(b, "prod")) s.push({ type: "event", event: e });
    expect(b.notifications).toHaveLength(2);
  });

  it("reconnects a broken stream after a delay, resuming after the last event", async () => {
    const b = new FakeBackend();
    b.servers = [localServer, remote("staging", true), remote("prod", true)];
    b.apps = { local: [], staging: [], prod: [] };
    render(<App backend={b} />);
    await waitFor(() => expect(eventStreams(b, "staging")).toHaveLength(1));
    const staging = eventStreams(b, "staging")[0];
    staging.event("container", "blog", { action: "start" }, 42);
    staging.end(uiError("unreachable", "the SSH connection dropped"));
    await waitFor(() => expect(b.streams.filter((s) => s.server === "staging")).toHaveLength(2), { timeout: 2500 });
    expect(staging.closed).toBe(true);
    expect(eventStreams(b, "staging").map((s) => s.req)).toEqual([{ type: "events", after: 42 }]);
  });
});
