import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { FakeBackend, localServer, uiError } from "../test/fakeBackend";
import { byId } from "../test/render";

afterEach(() => {
  vi.useRealTimers();
  cleanup();
});

/** Fake time passes: the timers due run, and what they started settles. */
async function pass(ms: number) {
  await act(() => vi.advanceTimersByTimeAsync(ms));
  await act(() => vi.advanceTimersByTimeAsync(0));
}

const remote = (name: string, connected: boolean) => ({ name, url: `ssh://root@${name}.example.com:22`, local: false, host_key: "SHA256:x", connected });

/** Every events stream opened to a server, in order. */
const eventStreams = (b: FakeBackend, server: string) => b.streams.filter((s) => s.server === server && s.req.type === "events");

/** A server's dot in the sidebar. */
const dot = (server: string) => byId(`server-status-${server}`);

/** Two connected servers off screen (this computer is on screen), their watchers live. */
async function twoOffScreen() {
  const b = new FakeBackend();
  b.servers = [localServer, remote("staging", true), remote("prod", true)];
  b.apps = { local: [], staging: [], prod: [] };
  render(<App backend={b} />);
  await waitFor(() => expect(byId("server-title").textContent).toBe("This computer"));
  await waitFor(() => expect(dot("staging").dataset.status).toBe("connected"));
  await waitFor(() => expect(dot("prod").dataset.status).toBe("connected"));
  expect(dot("staging").title).toBe("Connected");
  return b;
}

describe("Sidebar link status", () => {
  it("shows a server off screen reconnecting while its stream is down, counting down, then connected again", async () => {
    const b = await twoOffScreen();
    vi.useFakeTimers();
    eventStreams(b, "staging")[0].end(uiError("unreachable", "the SSH connection dropped"));
    expect(dot("staging").dataset.status).toBe("reconnecting");
    expect(dot("staging").title).toBe("Reconnecting in 1 s: the SSH connection dropped");
    expect(dot("prod").dataset.status).toBe("connected");
    await pass(1000);
    expect(eventStreams(b, "staging")).toHaveLength(2);
    expect(dot("staging").dataset.status).toBe("connected");
    expect(dot("staging").title).toBe("Connected");

    // Broken again at once: a longer wait, counted down in the title.
    eventStreams(b, "staging")[1].end(uiError("unreachable", "connection refused"));
    expect(dot("staging").title).toBe("Reconnecting in 2 s: connection refused");
    await pass(1000);
    expect(dot("staging").title).toBe("Reconnecting in 1 s: connection refused");
    await pass(1000);
    expect(eventStreams(b, "staging")).toHaveLength(3);
    expect(dot("staging").dataset.status).toBe("connected");
  });

  it("shows a server off screen disconnected with the reason on an error retrying cannot mend, until its view gets through", async () => {
    const b = await twoOffScreen();
    vi.useFakeTimers();
    eventStreams(b, "staging")[0].end(uiError("auth_rejected", "root@staging.example.com refused the key"));
    expect(dot("staging").dataset.status).toBe("error");
    expect(dot("staging").title).toBe("Disconnected: root@staging.example.com refused the key");
    await pass(120_000);
    expect(eventStreams(b, "staging")).toHaveLength(1);
    expect(dot("staging").dataset.status).toBe("error");
    vi.useRealTimers();

    // The user opens it and its view connects (the key was mended): the watcher follows.
    await act(async () => fireEvent.click(byId("server-staging")));
    await waitFor(() => expect(byId("live-status").dataset.state).toBe("live"));
    await waitFor(() => expect(eventStreams(b, "staging")).toHaveLength(3));
    await act(async () => fireEvent.click(byId("server-local")));
    await waitFor(() => expect(byId("server-title").textContent).toBe("This computer"));
    expect(dot("staging").dataset.status).toBe("connected");
  });

  it("shows the server on screen as its live indicator does", async () => {
    const b = new FakeBackend();
    render(<App backend={b} />);
    await waitFor(() => expect(dot("local").dataset.status).toBe("connected"));
    // The view's stream, then its alert watcher's.
    await waitFor(() => expect(eventStreams(b, "local")).toHaveLength(2));
    const [view, watcher] = eventStreams(b, "local");
    vi.useFakeTimers();
    view.end(uiError("unreachable", "the SSH connection dropped"));
    expect(byId("live-status").dataset.state).toBe("retrying");
    expect(dot("local").dataset.status).toBe("reconnecting");
    expect(dot("local").title).toBe("Reconnecting in 1 s: the SSH connection dropped");
    await pass(1000);
    expect(byId("live-status").dataset.state).toBe("live");
    expect(dot("local").dataset.status).toBe("connected");

    // Its watcher's stream breaking is not the view's: the dot stays with the indicator.
    watcher.end(uiError("unreachable", "connection reset"));
    expect(dot("local").dataset.status).toBe("connected");

    const again = b.openStreams("events").find((s) => s.server === "local" && s !== watcher)!;
    again.end(uiError("host_key_changed", "the host key of local changed: it may be an attack"));
    expect(byId("live-status").dataset.state).toBe("failed");
    expect(dot("local").dataset.status).toBe("error");
    expect(dot("local").title).toBe("Disconnected: the host key of local changed: it may be an attack");
    fireEvent.click(byId("live-retry"));
    await pass(0);
    expect(byId("live-status").dataset.state).toBe("live");
    expect(dot("local").dataset.status).toBe("connected");
  });

  it("shows why the server on screen could not connect", async () => {
    const b = new FakeBackend();
    b.apps.local = uiError("docker_unavailable", "Docker is not reachable: connection refused");
    render(<App backend={b} />);
    await screen.findByTestId("server-error");
    expect(dot("local").dataset.status).toBe("error");
    expect(dot("local").title).toBe("Disconnected: Docker is not reachable: connection refused");
  });
});
