import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { app, FakeBackend, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

// xterm.js needs a real canvas and layout: a recording stand-in instead.
const { terms, FakeXterm } = vi.hoisted(() => {
const terms: InstanceType<typeof FakeXterm>[] = [];
class FakeXterm {
  cols = 100;
  rows = 30;
  written: Uint8Array[] = [];
  options: Record<string, unknown> = {};
  disposed = false;
  private data: ((d: string) => void)[] = [];
  private resize: ((s: { cols: number; rows: number }) => void)[] = [];
  constructor(opts: Record<string, unknown>) {
    this.options = { ...opts };
    terms.push(this);
  }
  loadAddon() {}
  open() {}
  focus() {}
  write(b: Uint8Array) {
    this.written.push(b);
  }
  onData(f: (d: string) => void) {
    this.data.push(f);
    return { dispose: () => undefined };
  }
  onBinary() {
    return { dispose: () => undefined };
  }
  onResize(f: (s: { cols: number; rows: number }) => void) {
    this.resize.push(f);
    return { dispose: () => undefined };
  }
  attachCustomKeyEventHandler() {}
  getSelection() {
    return "";
  }
  paste() {}
  dispose() {
    this.disposed = true;
  }
  type(s: string) {
    this.data.forEach((f) => f(s));
  }
  resized(cols: number, rows: number) {
    this.cols = cols;
    this.rows = rows;
    this.resize.forEach((f) => f({ cols, rows }));
  }
}
return { terms, FakeXterm };
});
vi.mock("@xterm/xterm", () => ({ Terminal: FakeXterm }));
vi.mock("@xterm/addon-fit", () => ({ FitAddon: class { fit() {} } }));
vi.mock("@xterm/addon-search", () => ({ SearchAddon: class { findNext() {} findPrevious() {} } }));
vi.mock("@xterm/addon-web-links", () => ({ WebLinksAddon: class {} }));
vi.mock("@xterm/addon-webgl", () => ({ WebglAddon: class { onContextLoss() {} dispose() {} } }));

beforeEach(() => {
  terms.length = 0;
  globalThis.ResizeObserver ??= class {
    observe() {}
    disconnect() {}
    unobserve() {}
  } as unknown as typeof ResizeObserver;
});
afterEach(cleanup);

async function click(testId: string) {
  const el = await screen.findByTestId(testId);
  await act(async () => fireEvent.click(el));
}

function setup() {
  const b = new FakeBackend();
  b.apps.local = [app("blog")];
  b.on("getApp", app("blog"));
  b.on("listTerminals", []);
  b.on("killTerminal", undefined as never);
  return b;
}

describe("Terminals", () => {
  it("opens a container shell with the terminal's size and passes bytes through untouched", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await click("terminal-new");
    // This computer has no server shell: that one needs SSH.
    expect(screen.queryByTestId("terminal-new-server")).toBeNull();
    await click("terminal-new-container-blog-web");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    const t = b.terminals[0];
    expect([t.kind, t.cols, t.rows]).toEqual([{ type: "container", app: "blog", service: "web" }, 100, 30]);
    expect(byId("terminal-tab-0").dataset.state).toBe("connecting");

    const bytes = new Uint8Array([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3, 0xbc, 0xff]);
    t.write(bytes);
    t.event({ type: "replayed" });
    expect(terms[0].written[0]).toBe(bytes);
    await waitFor(() => expect(byId("terminal-tab-0").dataset.state).toBe("live"));

    act(() => terms[0].type("ls\r"));
    await waitFor(() => expect(t.input).toEqual(["ls\r"]));
    act(() => terms[0].resized(120, 40));
    await waitFor(() => expect(t.sizes).toContainEqual([120, 40]));
  });

  it("shows an exit and reopens; a lost agent session is reattached", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await click("terminal-new");
    await click("terminal-new-agent");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    b.terminals[0].event({ type: "exit", status: 3 });
    await waitFor(() => expect(byId("terminal-status").textContent).toContain("exited with status 3"));
    await click("terminal-reopen");
    await waitFor(() => expect(b.terminals).toHaveLength(2));
    expect(b.terminals[1].kind).toEqual({ type: "agent_shell" });
    expect(b.terminals[0].closed).toBe(true);

    b.terminals[1].event({ type: "lost", error: uiError("other", "the connection to the terminal was lost") });
    await waitFor(() => expect(byId("terminal-tab-0").dataset.state).toBe("lost"));
    expect(byId("terminal-reopen").textContent).toContain("Reattach");
    await click("terminal-reopen");
    await waitFor(() => expect(b.terminals).toHaveLength(3));
    expect(b.terminals[2].kind).toEqual({ type: "attach", id: "term-2" });
  });

  it("closing a tab closes its connection and disposes the terminal", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await click("terminal-new");
    await click("terminal-new-agent");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    await click("terminal-close-0");
    await waitFor(() => expect(b.terminals[0].closed).toBe(true));
    expect(terms[0].disposed).toBe(true);
    expect(screen.queryByTestId("terminal-tab-0")).toBeNull();
  });

  it("offers the agent's open sessions after connecting, and reattaches them", async () => {
    const b = setup();
    const open = { id: "term-abc", kind: "exec", app: "blog", service: "db", command: ["/bin/sh"], tty: true, cols: 80, rows: 24, viewers: 0, created_ms: 1, active_ms: 1, exit_status: null };
    b.on("listTerminals", [open, { ...open, id: "term-done", exit_status: 0 }]);
    renderServer(b);
    await connected(b);
    const offer = await screen.findByTestId("terminal-reattach");
    expect(offer.textContent).toContain("1 open session");
    await click("terminal-reattach");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    expect(b.terminals[0].kind).toEqual({ type: "attach", id: "term-abc" });
    await waitFor(() => expect(screen.queryByTestId("terminal-reattach")).toBeNull());
  });

  it("opens a shell from an app's page", async () => {
    const b = setup();
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-terminal-db");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    expect(b.terminals[0].kind).toEqual({ type: "container", app: "blog", service: "db" });
    expect(byId("terminal-panel").dataset.shown).toBe("true");
  });
});

describe("Adopt", () => {
  it("adopts an app created outside AppOS after confirming, and shows a refusal", async () => {
    const b = setup();
    b.apps.local = [app("legacy", { managed: false })];
    b.on("getApp", app("legacy", { managed: false }), app("legacy", { managed: true }));
    b.on("adoptApp", { app: "legacy", version: 1, deployment_id: null });
    renderServer(b, { view: "app", app: "legacy", tab: "overview" });
    await click("action-adopt");
    expect(byId("adopt-dialog").textContent).toContain("Nothing is restarted");
    await click("adopt-confirm");
    await waitFor(() => expect(b.callsOf("adoptApp")).toEqual([["local", "legacy"]]));
    await waitFor(() => expect(screen.queryByTestId("action-adopt")).toBeNull());

    cleanup();
    const c = setup();
    c.apps.local = [app("legacy", { managed: false })];
    c.on("getApp", app("legacy", { managed: false }));
    c.on("adoptApp", uiError("other", "Cannot adopt this project: cannot read /srv/legacy/compose.yml"));
    renderServer(c, { view: "app", app: "legacy", tab: "overview" });
    await click("action-adopt");
    await click("adopt-confirm");
    expect((await screen.findByTestId("adopt-error")).textContent).toContain("cannot read /srv/legacy/compose.yml");
  });
});
