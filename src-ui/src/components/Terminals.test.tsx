import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { app, FakeBackend, localServer, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";
import { newSession } from "../lib/session";
import { closeTerminals, loadEngine, REVIVED, terminalsOf } from "./terminal/manager";
import { forgetGpu } from "./terminal/settings";

// xterm.js needs a canvas and real layout: recording stand-ins instead, which
// keep what xterm would get and let a test type, select and resize.
const fx = vi.hoisted(() => {
  type Listener<T> = (v: T) => void;
  const on = <T,>(list: Listener<T>[]) => (f: Listener<T>) => {
    list.push(f);
    return { dispose: () => list.splice(list.indexOf(f), 1) };
  };
  class FakeXterm {
    cols = 80;
    rows = 24;
    written: Uint8Array[] = [];
    pasted: string[] = [];
    options: Record<string, unknown>;
    disposed = false;
    opened: HTMLElement | null = null;
    selection = "";
    refreshed = 0;
    addons: unknown[] = [];
    keyHandler: ((e: KeyboardEvent) => boolean) | null = null;
    private data: Listener<string>[] = [];
    private binary: Listener<string>[] = [];
    private resize_: Listener<{ cols: number; rows: number }>[] = [];
    private render_: Listener<{ start: number; end: number }>[] = [];
    onData = on(this.data);
    onRender = on(this.render_);
    onBinary = on(this.binary);
    onResize = on(this.resize_);
    constructor(opts: Record<string, unknown>) {
      this.options = { ...opts };
      terms.push(this);
    }
    loadAddon(a: { activate?: (t: FakeXterm) => void }) {
      a.activate?.(this);
      this.addons.push(a);
    }
    open(el: HTMLElement) {
      // The elements a WebDriver test reaches for.
      el.innerHTML = '<div class="xterm"><div class="xterm-screen"><div class="xterm-rows"></div></div><textarea class="xterm-helper-textarea"></textarea></div>';
      this.opened = el;
    }
    focus() {}
    resets = 0;
    /** Clears the screen: what was written is gone. */
    reset() {
      this.resets++;
      this.written = [];
    }
    refresh() {
      this.refreshed++;
    }
    /** xterm's frame debouncer, as `terminal/frames` reaches it: parsing output asks for a frame. */
    atOnce = 0;
    _core = {
      _renderService: {
        _renderDebouncer: {
          _animationFrame: undefined as number | undefined,
          _innerRefresh: () => {
            this._core._renderService._renderDebouncer._animationFrame = undefined;
            this.atOnce++;
            this.drawn();
          },
        },
      },
    };
    write(b: Uint8Array, parsed?: () => void) {
      this.written.push(b);
      this._core._renderService._renderDebouncer._animationFrame = 1;
      parsed?.();
    }
    /** xterm drew a frame. */
    drawn() {
      this.render_.forEach((f) => f({ start: 0, end: this.rows - 1 }));
    }
    resize(cols: number, rows: number) {
      if (cols === this.cols && rows === this.rows) return;
      this.cols = cols;
      this.rows = rows;
      this.resize_.forEach((f) => f({ cols, rows }));
    }
    attachCustomKeyEventHandler(f: (e: KeyboardEvent) => boolean) {
      this.keyHandler = f;
    }
    getSelection() {
      return this.selection;
    }
    hasSelection() {
      return this.selection !== "";
    }
    paste(s: string) {
      this.pasted.push(s);
    }
    dispose() {
      this.disposed = true;
    }
    /** What a user types. */
    type(s: string) {
      this.data.forEach((f) => f(s));
    }
    /** xterm's binary event (mouse reports as Latin-1 code units). */
    sendBinary(s: string) {
      this.binary.forEach((f) => f(s));
    }
    /** A key through the custom handler; true when xterm would handle it. */
    key(init: KeyboardEventInit & { code?: string }) {
      return this.keyHandler?.(new KeyboardEvent("keydown", { cancelable: true, ...init })) ?? true;
    }
  }
  const terms: FakeXterm[] = [];
  const state = { fit: { cols: 100, rows: 30 } as { cols: number; rows: number } | undefined, webglFails: false };
  class FitAddon {
    t: FakeXterm | null = null;
    activate(t: FakeXterm) {
      this.t = t;
    }
    proposeDimensions() {
      return state.fit;
    }
    fit() {
      if (state.fit) this.t?.resize(state.fit.cols, state.fit.rows);
    }
    dispose() {}
  }
  const searches: { dir: string; query: string }[] = [];
  class SearchAddon {
    activate() {}
    findNext(query: string) {
      searches.push({ dir: "next", query });
      return query !== "nothing";
    }
    findPrevious(query: string) {
      searches.push({ dir: "prev", query });
      return true;
    }
    clearDecorations() {}
    onDidChangeResults() {
      return { dispose: () => undefined };
    }
    dispose() {}
  }
  const links: ((ev: MouseEvent, uri: string) => void)[] = [];
  class WebLinksAddon {
    constructor(handler: (ev: MouseEvent, uri: string) => void) {
      links.push(handler);
    }
    activate() {}
    dispose() {}
  }
  const gl: WebglAddon[] = [];
  class WebglAddon {
    lose: (() => void) | null = null;
    disposed = false;
    activate() {
      if (state.webglFails) throw new Error("WebGL2 not supported");
      gl.push(this);
    }
    onContextLoss(f: () => void) {
      this.lose = f;
      return { dispose: () => undefined };
    }
    dispose() {
      this.disposed = true;
    }
  }
  const observers: { cb: () => void }[] = [];
  class FakeResizeObserver {
    constructor(readonly cb: () => void) {
      observers.push(this);
    }
    observe() {}
    unobserve() {}
    disconnect() {
      observers.splice(observers.indexOf(this), 1);
    }
  }
  return { terms, state, searches, links, gl, observers, FakeXterm, FitAddon, SearchAddon, WebLinksAddon, WebglAddon, FakeResizeObserver };
});
vi.mock("@xterm/xterm", () => ({ Terminal: fx.FakeXterm }));
vi.mock("@xterm/addon-fit", () => ({ FitAddon: fx.FitAddon }));
vi.mock("@xterm/addon-search", () => ({ SearchAddon: fx.SearchAddon }));
vi.mock("@xterm/addon-web-links", () => ({ WebLinksAddon: fx.WebLinksAddon }));
vi.mock("@xterm/addon-webgl", () => ({ WebglAddon: fx.WebglAddon }));

const { terms } = fx;

beforeEach(() => {
  terms.length = 0;
  fx.searches.length = 0;
  fx.links.length = 0;
  fx.gl.length = 0;
  fx.state.fit = { cols: 100, rows: 30 };
  fx.state.webglFails = false;
  // Each test's backend says whether there is a GPU.
  forgetGpu();
  localStorage.clear();
  document.documentElement.classList.remove("dark");
  vi.stubGlobal("ResizeObserver", fx.FakeResizeObserver);
});
afterEach(() => {
  vi.useRealTimers();
  cleanup();
  vi.unstubAllGlobals();
});

async function click(testId: string) {
  const el = await screen.findByTestId(testId);
  await act(async () => fireEvent.click(el));
}

/** The panel's size changed: every observer fires, and the 50 ms debounce passes. */
async function resizeTo(cols: number, rows: number) {
  fx.state.fit = { cols, rows };
  act(() => fx.observers.forEach((o) => o.cb()));
  await act(() => new Promise((r) => setTimeout(r, 80)));
}

function setup() {
  const b = new FakeBackend();
  b.apps.local = [app("blog")];
  b.apps.prod = [app("blog")];
  b.servers = [localServer, { name: "prod", url: "ssh://root@prod:22", local: false, host_key: null, connected: false }];
  b.on("get_app", app("blog"));
  b.on("list_terminals", []);
  b.on("kill_terminal", null);
  return b;
}

async function openFromMenu(item: string, count: number, b: FakeBackend) {
  await click("terminal-new");
  await click(item);
  await waitFor(() => expect(b.terminals).toHaveLength(count));
  return b.terminals[count - 1];
}

const state = (i: number) => byId(`terminal-tab-${i}`).dataset.state;
const message = () => byId("terminal-message").textContent;

/** Fake time passes: the timers due run, and what they started settles. */
async function pass(ms: number) {
  await act(() => vi.advanceTimersByTimeAsync(ms));
  await act(() => vi.advanceTimersByTimeAsync(0));
}

/** An agent shell on "local", live, its xterm loaded; then time is fake. */
async function liveAgentShell(b: FakeBackend) {
  renderServer(b);
  await connected(b);
  await openFromMenu("terminal-new-agent", 1, b);
  b.terminals[0].event({ type: "replayed" });
  await waitFor(() => expect(state(0)).toBe("live"));
  vi.useFakeTimers();
  return b.terminals[0];
}

describe("Terminal panel", () => {
  it("opens a container shell at the fitted size; bytes reach xterm untouched, keys and sizes reach the backend", async () => {
    const b = setup();
    fx.state.fit = { cols: 132, rows: 41 };
    renderServer(b);
    await connected(b);
    await click("terminal-new");
    // This computer has no server shell: that one needs SSH.
    expect(screen.queryByTestId("terminal-new-server")).toBeNull();
    expect(byId("terminal-new-container").textContent).toContain("Container shell");
    // Running containers only.
    expect(screen.getByTestId("terminal-new-container-blog-db")).toBeTruthy();
    await click("terminal-new-container-blog-web");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    const t = b.terminals[0];
    expect([t.kind, t.cols, t.rows]).toEqual([{ type: "container", app: "blog", service: "web" }, 132, 41]);
    expect(byId("terminal-panel").dataset.shown).toBe("true");
    expect(state(0)).toBe("connecting");
    // What WebDriver clicks, types into and reads.
    const view = byId("terminal-view");
    expect(view.querySelector(".xterm .xterm-rows")).toBeTruthy();
    expect(view.querySelector("textarea.xterm-helper-textarea")).toBeTruthy();

    // Split UTF-8 and escape sequences: passed on as they came, never decoded here.
    const a = new Uint8Array([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3]);
    const c = new Uint8Array([0xbc, 0xff, 0x00]);
    t.write(a);
    t.write(c);
    expect(terms[0].written).toHaveLength(2);
    expect(terms[0].written[0]).toBe(a);
    expect(terms[0].written[1]).toBe(c);
    t.event({ type: "replayed" });
    await waitFor(() => expect(state(0)).toBe("live"));
    expect(byId("terminal-tab-0").textContent).toContain("blog/web");
    expect(byId("terminal-status").textContent).toContain("Shell in blog/web");

    // The benchmark's probe: with it present, a frame drawn after output is
    // timed; a frame without new output (a cursor blink) is not.
    const w = window as { __apposTermProbe?: number[]; __apposTermArrivals?: number[] };
    t.write(new Uint8Array([0x61]));
    terms[0].drawn();
    expect(w.__apposTermArrivals).toBeUndefined();
    w.__apposTermProbe = [];
    terms[0].drawn();
    expect(w.__apposTermProbe).toHaveLength(0);
    t.write(new Uint8Array([0x61]));
    expect(w.__apposTermArrivals).toHaveLength(1);
    terms[0].drawn();
    expect(w.__apposTermProbe).toHaveLength(1);
    delete w.__apposTermProbe;
    delete w.__apposTermArrivals;

    // An echo is drawn as soon as it is parsed, not at the next frame; a
    // burst's chunk waits for the frame.
    const before = terms[0].atOnce;
    await new Promise((r) => setTimeout(r, 10));
    t.write(new Uint8Array([0x62]));
    expect(terms[0].atOnce).toBe(before + 1);
    await new Promise((r) => setTimeout(r, 10));
    t.write(new Uint8Array(4096));
    expect(terms[0].atOnce).toBe(before + 1);

    act(() => terms[0].type("ls\r"));
    await waitFor(() => expect(b.callsOf("terminalInput")).toEqual([[1, "ls\r"]]));
    // A mouse report above 0x7f goes out as bytes, not as UTF-8 of them.
    act(() => terms[0].sendBinary("\x1b[M\xe0\x21\x21"));
    await waitFor(() => expect(t.input[1]).toEqual(new Uint8Array([0x1b, 0x5b, 0x4d, 0xe0, 0x21, 0x21])));

    await resizeTo(120, 35);
    await waitFor(() => expect(b.callsOf("terminalResize")).toEqual([[1, 120, 35]]));
    expect(byId("terminal-size").textContent).toContain("120×35");
    // The same size again: nothing to tell.
    await resizeTo(120, 35);
    expect(b.callsOf("terminalResize")).toHaveLength(1);
    // A hidden panel measures nothing: the terminal keeps its size.
    fx.state.fit = undefined;
    act(() => fx.observers.forEach((o) => o.cb()));
    await act(() => new Promise((r) => setTimeout(r, 80)));
    expect(b.callsOf("terminalResize")).toHaveLength(1);
  });

  it("sends keys typed while connecting once connected, in order, in one call", async () => {
    const b = setup();
    let open!: () => void;
    b.terminalGate = new Promise((r) => (open = r));
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(terms).toHaveLength(1));
    act(() => {
      terms[0].type("e");
      terms[0].type("c");
      terms[0].type("ho\r");
    });
    expect(b.callsOf("terminalInput")).toEqual([]);
    await act(async () => open());
    await waitFor(() => expect(b.callsOf("terminalInput")).toEqual([[1, "echo\r"]]));
  });

  it("offers a server shell on SSH servers, and an agent shell everywhere", async () => {
    const b = setup();
    renderServer(b, { view: "apps" }, { server: "prod", local: false });
    await connected(b);
    const ssh = await openFromMenu("terminal-new-server", 1, b);
    expect([ssh.server, ssh.kind]).toEqual(["prod", { type: "server_shell" }]);
    // Nothing to replay over SSH: live once open.
    await waitFor(() => expect(state(0)).toBe("live"));
    expect(byId("terminal-tab-0").textContent).toContain("server shell");
    expect(byId("terminal-status").textContent).toContain("over SSH");
    const agent = await openFromMenu("terminal-new-agent", 2, b);
    expect(agent.kind).toEqual({ type: "agent_shell" });
    expect(byId("terminal-tab-1").getAttribute("aria-selected")).toBe("true");
  });

  it("shows an exit and reopens in place; a lost agent session is reattached or ended", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    b.terminals[0].event({ type: "replayed" });
    b.terminals[0].event({ type: "exit", status: 3 });
    await waitFor(() => expect(state(0)).toBe("exited"));
    expect(byId("terminal-status").textContent).toContain("exited with status 3");
    // Keys go nowhere after the end.
    act(() => terms[0].type("x"));
    expect(b.callsOf("terminalInput")).toEqual([]);
    expect(byId("terminal-reopen").textContent).toContain("Reopen");
    await click("terminal-reopen");
    await waitFor(() => expect(b.terminals).toHaveLength(2));
    expect(b.terminals[1].kind).toEqual({ type: "agent_shell" });
    expect(b.terminals[0].closed).toBe(true);
    expect(terms[0].disposed).toBe(true);
    expect(screen.queryByTestId("terminal-tab-1")).toBeNull();

    b.terminals[1].event({ type: "lost", error: uiError("invalid_input", "the connection to the terminal was lost; reopen it to reattach") });
    await waitFor(() => expect(state(0)).toBe("lost"));
    // It would reattach by itself in a second; the user does not wait.
    expect(byId("terminal-message").title).toBe("the connection to the terminal was lost; reopen it to reattach");
    expect(byId("terminal-reopen").textContent).toBe("Reattach now");
    await click("terminal-reopen");
    await waitFor(() => expect(b.terminals).toHaveLength(3));
    expect(b.terminals[2].kind).toEqual({ type: "attach", id: "term-2" });

    await click("terminal-end");
    await waitFor(() => expect(b.callsOf("kill_terminal")).toEqual([["local", { id: "term-2" }]]));
    expect(b.terminals[2].closed).toBe(true);
    expect(screen.queryByTestId("terminal-tab-0")).toBeNull();
  });

  it("reattaches a lost agent session by itself after a second, its screen replayed", async () => {
    const b = setup();
    const first = await liveAgentShell(b);
    first.event({ type: "lost", error: uiError("unreachable", "the SSH connection to local dropped") });
    expect(state(0)).toBe("lost");
    expect(message()).toBe("Connection lost — reattaching in 1 s");
    expect(byId("terminal-message").title).toBe("the SSH connection to local dropped");
    expect(byId("terminal-reopen").textContent).toBe("Reattach now");
    await pass(999);
    expect(b.terminals).toHaveLength(1);
    await pass(1);
    expect(b.terminals).toHaveLength(2);
    expect(b.terminals[1].kind).toEqual({ type: "attach", id: "term-1" });
    expect(first.closed).toBe(true);
    expect(state(0)).toBe("connecting");
    expect(message()).toBe("Reattaching · Shell on this computer, run by the AppOS agent…");
    // The old screen stays until the agent's replay comes, which replaces it in the same xterm.
    expect(terms).toHaveLength(1);
    expect(terms[0].resets).toBe(0);
    b.terminals[1].write("\x1b[H\x1b[2Juser@laptop:~$ ");
    expect(terms[0].resets).toBe(1);
    b.terminals[1].event({ type: "replayed" });
    expect(terms[0].resets).toBe(1);
    expect(state(0)).toBe("live");
    expect(message()).toBe("Shell on this computer, run by the AppOS agentterm-1");
    expect(terms[0].written.map((w) => new TextDecoder().decode(w))).toEqual(["\x1b[H\x1b[2Juser@laptop:~$ "]);
    // What the old connection still says goes nowhere.
    first.write("stale");
    expect(terms[0].written).toHaveLength(1);
    expect(byId("terminal-tab-0").getAttribute("aria-selected")).toBe("true");
    await pass(60_000);
    expect(b.callsOf("openTerminal")).toHaveLength(2);

    // Lost again later: it starts over with a short wait.
    b.terminals[1].event({ type: "lost", error: uiError("unreachable", "the SSH connection to local dropped") });
    expect(message()).toBe("Connection lost — reattaching in 1 s");
    await pass(1000);
    expect(b.terminals).toHaveLength(3);
    expect(b.terminals[2].kind).toEqual({ type: "attach", id: "term-1" });
  });

  it("counts down and tries again with longer waits while the attach fails; a new shell in the same screen when the session is gone", async () => {
    const b = setup();
    const first = await liveAgentShell(b);
    const opens = () => b.callsOf("openTerminal").length;
    first.event({ type: "lost", error: uiError("unreachable", "the SSH connection to local dropped") });
    expect(message()).toBe("Connection lost — reattaching in 1 s");
    // Each try fails: the server is still away.
    const waits = [1000, 2000, 4000, 8000, 10_000, 10_000];
    for (const [i, wait] of waits.entries()) {
      b.terminalError = uiError("unreachable", "connection refused");
      await pass(wait - 1);
      expect(opens()).toBe(1 + i);
      await pass(1);
      expect(opens()).toBe(2 + i);
      expect(b.callsOf("openTerminal")[1 + i][1]).toEqual({ type: "attach", id: "term-1" });
      expect(state(0)).toBe("lost");
      const next = waits[i + 1] ?? 10_000;
      expect(message()).toBe(`Connection lost — reattaching in ${next / 1000} s`);
      expect(byId("terminal-message").title).toBe("connection refused");
    }
    // Counting down.
    await pass(1000);
    expect(message()).toBe("Connection lost — reattaching in 9 s");
    await pass(7000);
    expect(message()).toBe("Connection lost — reattaching in 2 s");

    // The agent no longer has the session (it restarted): a new shell of the
    // same kind opens in the tab, below the old screen and a line saying so.
    const before = terms[0].written.length;
    b.terminalError = uiError("not_found", "no terminal term-1 on local: it ended, or the agent restarted");
    await pass(2000);
    b.terminalError = null;
    await pass(0);
    expect(opens()).toBe(9);
    expect(b.callsOf("openTerminal")[8][1]).toEqual({ type: "agent_shell" });
    expect(terms).toHaveLength(1);
    expect(terms[0].resets).toBe(0);
    expect(new TextDecoder().decode(terms[0].written[before])).toBe(REVIVED);
    expect(state(0)).toBe("connecting");
    b.terminals[b.terminals.length - 1].write("$ ");
    b.terminals[b.terminals.length - 1].event({ type: "replayed" });
    expect(state(0)).toBe("live");
    expect(terms[0].resets).toBe(0);
    await pass(120_000);
    expect(opens()).toBe(9);
  });

  it("a session gone when first attached is not replaced: the tab says so and offers Reopen", async () => {
    const b = setup();
    const open = { id: "term-9", kind: "shell", app: null, service: null, command: ["/bin/sh"], tty: true, cols: 80, rows: 24, viewers: 0, created_ms: 1, active_ms: 1, exit_status: null };
    b.on("list_terminals", [open]);
    renderServer(b);
    await connected(b);
    await screen.findByTestId("terminal-reattach");
    b.terminalError = uiError("not_found", "no terminal term-9 on local: it ended, or the agent restarted");
    await click("terminal-reattach");
    await waitFor(() => expect(state(0)).toBe("lost"));
    vi.useFakeTimers();
    expect(message()).toBe("no terminal term-9 on local: it ended, or the agent restarted");
    expect(byId("terminal-reopen").textContent).toBe("Reopen");
    await pass(120_000);
    expect(b.callsOf("openTerminal")).toHaveLength(1);
  });

  it("does not try again when the server refuses, and forgets the wait of a closed tab", async () => {
    const b = setup();
    const first = await liveAgentShell(b);
    first.event({ type: "lost", error: uiError("auth_rejected", "the server refused the key") });
    expect(message()).toBe("the server refused the key");
    expect(byId("terminal-reopen").textContent).toBe("Reattach");
    await pass(60_000);
    expect(b.callsOf("openTerminal")).toHaveLength(1);

    // Waiting to reattach, then closed: nothing is tried.
    await act(async () => fireEvent.click(byId("terminal-reopen")));
    await pass(0);
    expect(b.callsOf("openTerminal")).toHaveLength(2);
    b.terminals[1].event({ type: "lost", error: uiError("unreachable", "the SSH connection to local dropped") });
    expect(message()).toBe("Connection lost — reattaching in 2 s");
    await act(async () => fireEvent.click(byId("terminal-close-0")));
    await pass(60_000);
    expect(b.callsOf("openTerminal")).toHaveLength(2);
    expect(screen.queryByTestId("terminal-tab-0")).toBeNull();
  });

  it("says a lost server shell ended with the SSH connection, offers a new one, and does not retry", async () => {
    const b = setup();
    const { session } = renderServer(b, { view: "apps" }, { server: "prod", local: false });
    await connected(b);
    await openFromMenu("terminal-new-server", 1, b);
    await waitFor(() => expect(state(0)).toBe("live"));
    // An agent shell beside it, waiting to reattach when the server goes: closing them all forgets its wait.
    await openFromMenu("terminal-new-agent", 2, b);
    vi.useFakeTimers();
    b.terminals[1].event({ type: "replayed" });
    act(() => terminalsOf(session, b, "prod").select(0));
    b.terminals[0].event({ type: "lost", error: uiError("unreachable", "the SSH connection to prod dropped") });
    b.terminals[1].event({ type: "lost", error: uiError("unreachable", "the SSH connection to prod dropped") });
    expect(state(0)).toBe("lost");
    expect(message()).toBe("The server shell ended with the SSH connection.");
    expect(byId("terminal-message").title).toBe("the SSH connection to prod dropped");
    expect(byId("terminal-reopen").textContent).toBe("Open a new one");
    expect(screen.queryByTestId("terminal-end")).toBeNull();
    act(() => closeTerminals(session, "prod"));
    await pass(60_000);
    expect(b.callsOf("openTerminal")).toHaveLength(2);
    vi.useRealTimers();

    await openFromMenu("terminal-new-server", 3, b);
    await waitFor(() => expect(state(0)).toBe("live"));
    b.terminals[2].event({ type: "lost", error: uiError("unreachable", "the SSH connection to prod dropped") });
    expect(message()).toBe("The server shell ended with the SSH connection.");
    await click("terminal-reopen");
    await waitFor(() => expect(b.terminals).toHaveLength(4));
    expect(b.terminals[3].kind).toEqual({ type: "server_shell" });
    expect(b.terminals[2].closed).toBe(true);
  });

  it("shows why a terminal could not be opened, and opens it again", async () => {
    const b = setup();
    b.terminalError = uiError("other", "too many terminals (32)");
    renderServer(b);
    await connected(b);
    await click("terminal-new");
    await click("terminal-new-container-blog-db");
    await waitFor(() => expect(state(0)).toBe("lost"));
    expect(byId("terminal-status").textContent).toContain("too many terminals");
    await click("terminal-reopen");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    expect(b.terminals[0].kind).toEqual({ type: "container", app: "blog", service: "db" });
  });

  it("closing a tab closes its connection and disposes xterm; the neighbour becomes active", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await openFromMenu("terminal-new-container-blog-web", 2, b);
    await waitFor(() => expect(terms).toHaveLength(2));
    await click("terminal-close-1");
    await waitFor(() => expect(b.terminals[1].closed).toBe(true));
    expect(terms[1].disposed).toBe(true);
    expect(terms[0].disposed).toBe(false);
    expect(b.terminals[0].closed).toBe(false);
    expect(screen.queryByTestId("terminal-tab-1")).toBeNull();
    expect(byId("terminal-tab-0").getAttribute("aria-selected")).toBe("true");
    // Output still in flight for the closed tab is dropped.
    b.terminals[1].write("late");
    expect(terms[1].written).toHaveLength(0);
    await click("terminal-close-0");
    await waitFor(() => expect(b.terminals[0].closed).toBe(true));
    expect(byId("terminal-empty-agent")).toBeTruthy();
  });

  it("offers the agent's open sessions after connecting, and reattaches them", async () => {
    const b = setup();
    const open = { id: "term-abc", kind: "exec", app: "blog", service: "db", command: ["/bin/sh"], tty: true, cols: 80, rows: 24, viewers: 0, created_ms: 1, active_ms: 1, exit_status: null };
    b.on("list_terminals", [open, { ...open, id: "term-shell", app: null, service: null }, { ...open, id: "term-done", exit_status: 0 }]);
    renderServer(b);
    await connected(b);
    const offer = await screen.findByTestId("terminal-reattach");
    expect(offer.textContent).toContain("2 sessions still open — reattach");
    await click("terminal-reattach");
    await waitFor(() => expect(b.terminals).toHaveLength(2));
    expect(b.terminals.map((t) => t.kind)).toEqual([
      { type: "attach", id: "term-abc" },
      { type: "attach", id: "term-shell" },
    ]);
    await waitFor(() => expect(screen.queryByTestId("terminal-reattach")).toBeNull());
    // The replayed screen arrives like any output.
    b.terminals[0].write("\x1b[H\x1b[2Jroot@db:/# ");
    b.terminals[0].event({ type: "replayed" });
    await waitFor(() => expect(state(0)).toBe("live"));
    expect(new TextDecoder().decode(terms[0].written[0])).toContain("root@db");
    // After an exit, Reopen opens what the session was: a shell in blog/db.
    b.terminals[0].event({ type: "exit", status: 0 });
    act(() => byId("terminal-tab-0").click());
    await click("terminal-reopen");
    await waitFor(() => expect(b.terminals).toHaveLength(3));
    expect(b.terminals[2].kind).toEqual({ type: "container", app: "blog", service: "db" });
  });

  it("asks again when the server's event stream is back after a break", async () => {
    const b = setup();
    const open = { id: "term-abc", kind: "shell", app: null, service: null, command: ["/bin/bash"], tty: true, cols: 80, rows: 24, viewers: 0, created_ms: 1, active_ms: 1, exit_status: null };
    b.on("list_terminals", [], [open]);
    renderServer(b);
    const events = await connected(b);
    await waitFor(() => expect(b.callsOf("list_terminals")).toHaveLength(1));
    expect(screen.queryByTestId("terminal-reattach")).toBeNull();
    events.end(uiError("unreachable", "connection reset"));
    await waitFor(() => expect(b.streams.filter((x) => x.req.type === "events")).toHaveLength(2), { timeout: 3000 });
    await waitFor(() => expect(b.callsOf("list_terminals")).toHaveLength(2));
    expect((await screen.findByTestId("terminal-reattach")).textContent).toContain("1 session still open");
  });

  it("lists detached sessions in the menu to attach one or end it; the offer can be dismissed", async () => {
    const b = setup();
    const open = { id: "term-abc", kind: "exec", app: "blog", service: "db", command: ["/bin/sh"], tty: true, cols: 80, rows: 24, viewers: 1, created_ms: 1, active_ms: Date.now(), exit_status: null };
    b.on("list_terminals", [open, { ...open, id: "term-old" }]);
    renderServer(b);
    await connected(b);
    await click("terminal-reattach-dismiss");
    expect(screen.queryByTestId("terminal-reattach")).toBeNull();
    await click("terminal-new");
    await click("terminal-kill-term-old");
    await waitFor(() => expect(b.callsOf("kill_terminal")).toEqual([["local", { id: "term-old" }]]));
    await waitFor(() => expect(screen.queryByTestId("terminal-kill-term-old")).toBeNull());
    await click("terminal-attach-term-abc");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    expect(b.terminals[0].kind).toEqual({ type: "attach", id: "term-abc" });
  });

  it("keeps the tabs running while the panel is folded and while another view is shown", async () => {
    const b = setup();
    const { unmount, session } = renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await click("terminal-toggle");
    expect(byId("terminal-panel").dataset.shown).toBe("false");
    expect(b.terminals[0].closed).toBe(false);
    expect(terms[0].disposed).toBe(false);
    unmount();
    expect(b.terminals[0].closed).toBe(false);
    b.terminals[0].write("while away");
    // Back: the same xterm, in the new panel, with what came meanwhile.
    renderServer(b, { view: "apps" }, { session });
    await click("terminal-tab-0");
    expect(terms).toHaveLength(1);
    expect(byId("terminal-view").querySelector(".xterm")).toBeTruthy();
    expect(terms[0].written).toHaveLength(1);
    expect(terms[0].refreshed).toBeGreaterThan(0);
    act(() => closeTerminals(session));
    expect(b.terminals[0].closed).toBe(true);
    expect(terms[0].disposed).toBe(true);
  });

  it("opens xterm for a tab only once it is in the page (it measures its font there)", async () => {
    const b = setup();
    const session = newSession();
    session.store.set("nav:local", { route: { view: "apps" }, stack: [], last: {} });
    terminalsOf(session, b, "local").open({ type: "agent_shell" });
    await act(() => loadEngine());
    expect(terms).toHaveLength(0);
    expect(b.terminals).toHaveLength(0);
    renderServer(b, { view: "apps" }, { session });
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    expect(terms).toHaveLength(1);
    expect(terms[0].opened?.isConnected).toBe(true);
    expect([b.terminals[0].cols, b.terminals[0].rows]).toEqual([100, 30]);

    // Opened, then the view changed before xterm had loaded: it opens on return.
    cleanup();
    const other = newSession();
    const first = renderServer(b, { view: "apps" }, { session: other });
    await connected(b);
    act(() => void terminalsOf(other, b, "local").open({ type: "agent_shell" }));
    first.unmount();
    await act(() => loadEngine());
    expect(terms).toHaveLength(1);
    renderServer(b, { view: "apps" }, { session: other });
    await waitFor(() => expect(b.terminals).toHaveLength(2));
    expect(terms[1].opened?.isConnected).toBe(true);
  });

  it("keeps each server's tabs when switching servers, and closes them all when the app goes", async () => {
    const b = setup();
    const { unmount } = render(<App backend={b} />);
    await click("server-prod");
    await waitFor(() => expect(byId("server-title").textContent).toBe("prod"));
    await openFromMenu("terminal-new-server", 1, b);
    await click("server-local");
    await waitFor(() => expect(byId("server-title").textContent).toBe("This computer"));
    expect(screen.queryByTestId("terminal-tab-0")).toBeNull();
    await openFromMenu("terminal-new-agent", 2, b);
    await click("server-prod");
    await waitFor(() => expect(byId("terminal-tab-0").textContent).toContain("server shell"));
    expect(b.terminals.map((t) => t.closed)).toEqual([false, false]);
    unmount();
    expect(b.terminals.map((t) => t.closed)).toEqual([true, true]);
    expect(terms.every((t) => t.disposed)).toBe(true);
  });

  it("opens a shell from an app's page: one button with a service picker, and one per service", async () => {
    const b = setup();
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-terminal");
    await click("action-terminal-service-web");
    await waitFor(() => expect(b.terminals).toHaveLength(1));
    expect(b.terminals[0].kind).toEqual({ type: "container", app: "blog", service: "web" });
    expect(byId("terminal-panel").dataset.shown).toBe("true");
    await click("action-terminal-db");
    await waitFor(() => expect(b.terminals).toHaveLength(2));
    expect(b.terminals[1].kind).toEqual({ type: "container", app: "blog", service: "db" });
  });

  it("disables the app's shell button when nothing runs", async () => {
    const b = setup();
    const stopped = app("blog");
    for (const s of stopped.services) for (const c of s.containers) c.state = "exited";
    b.on("get_app", stopped);
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    expect(((await screen.findByTestId("action-terminal")) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByTestId("action-terminal-web")).toBeNull();
  });
});

describe("Terminal rendering and keys", () => {
  it("draws with WebGL, falls back to the DOM when WebGL fails or is lost, and can be switched off", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(byId("terminal-view").dataset.renderer).toBe("webgl"));
    act(() => fx.gl[0].lose?.());
    await waitFor(() => expect(byId("terminal-view").dataset.renderer).toBe("dom"));
    expect(fx.gl[0].disposed).toBe(true);

    fx.state.webglFails = true;
    await openFromMenu("terminal-new-agent", 2, b);
    await waitFor(() => expect(byId("terminal-view").dataset.renderer).toBe("dom"));
    expect(state(1)).toBe("connecting");

    fx.state.webglFails = false;
    await click("terminal-new");
    await click("terminal-gpu");
    expect(localStorage.getItem("appos.terminal.gpu")).toBe("0");
    // The menu stays open for the next pick.
    await click("terminal-new-agent");
    await waitFor(() => expect(b.terminals).toHaveLength(3));
    await waitFor(() => expect(byId("terminal-view").dataset.renderer).toBe("dom"));
    expect(fx.gl).toHaveLength(1);
  });

  it("draws with the DOM, without creating a WebGL context, when the desktop has no GPU", async () => {
    const b = setup();
    b.gpu = false;
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(byId("terminal-view").dataset.renderer).toBe("dom"));
    expect(fx.gl).toHaveLength(0);
    // The user's setting stays on: a GPU later (another machine) is used.
    expect(localStorage.getItem("appos.terminal.gpu")).toBeNull();
  });

  it("copies with Ctrl+Shift+C, pastes with Ctrl+Shift+V and a right click, zooms with Ctrl+= and Ctrl+-", async () => {
    const writeText = vi.fn(async () => undefined);
    const readText = vi.fn(async () => "pasted text");
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText, readText } });
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(terms[0]?.keyHandler).toBeTruthy());
    const t = terms[0];
    t.selection = "selected";
    expect(t.key({ key: "C", code: "KeyC", ctrlKey: true, shiftKey: true })).toBe(false);
    expect(writeText).toHaveBeenCalledWith("selected");
    // Plain Ctrl+C is the shell's interrupt.
    expect(t.key({ key: "c", code: "KeyC", ctrlKey: true })).toBe(true);

    expect(t.key({ key: "V", code: "KeyV", ctrlKey: true, shiftKey: true })).toBe(false);
    await waitFor(() => expect(t.pasted).toEqual(["pasted text"]));
    fireEvent.contextMenu(byId("terminal-view").querySelector(".xterm")!);
    await waitFor(() => expect(t.pasted).toEqual(["pasted text", "pasted text"]));

    expect(t.options.fontSize).toBe(13);
    expect(t.key({ key: "=", code: "Equal", ctrlKey: true })).toBe(false);
    expect(t.options.fontSize).toBe(14);
    expect(localStorage.getItem("appos.terminal.fontSize")).toBe("14");
    t.key({ key: "-", code: "Minus", ctrlKey: true });
    t.key({ key: "-", code: "Minus", ctrlKey: true });
    expect(t.options.fontSize).toBe(12);
    // A new terminal starts at the stored size.
    await openFromMenu("terminal-new-agent", 2, b);
    await waitFor(() => expect(terms[1]?.options.fontSize).toBe(12));
    await click("terminal-font-larger");
    await waitFor(() => expect(terms[1].options.fontSize).toBe(13));
    expect(terms[0].options.fontSize).toBe(13);
  });

  it("searches with Ctrl+Shift+F", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(terms[0]?.keyHandler).toBeTruthy());
    act(() => void terms[0].key({ key: "F", code: "KeyF", ctrlKey: true, shiftKey: true }));
    const box = await screen.findByTestId("terminal-search");
    fireEvent.change(box, { target: { value: "error" } });
    expect(fx.searches.at(-1)).toEqual({ dir: "next", query: "error" });
    fireEvent.keyDown(box, { key: "Enter", shiftKey: true });
    expect(fx.searches.at(-1)).toEqual({ dir: "prev", query: "error" });
    fireEvent.change(box, { target: { value: "nothing" } });
    expect(byId("terminal-search-count").textContent).toBe("none");
    fireEvent.keyDown(box, { key: "Escape" });
    expect(screen.queryByTestId("terminal-search")).toBeNull();
  });

  it("follows the app's light and dark theme", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(terms).toHaveLength(1));
    const bg = () => (terms[0].options.theme as { background: string }).background;
    expect(bg()).toBe("#ffffff");
    document.documentElement.classList.add("dark");
    await waitFor(() => expect(bg()).toBe("#09090b"));
    document.documentElement.classList.remove("dark");
    await waitFor(() => expect(bg()).toBe("#ffffff"));
  });

  it("opens web links in the system browser", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(fx.links).toHaveLength(1));
    fx.links[0](new MouseEvent("click"), "https://docs.docker.com/compose/");
    await waitFor(() => expect(b.callsOf("openUrl")).toEqual([["https://docs.docker.com/compose/"]]));
  });

  it("opens OSC 8 hyperlinks through the same http(s)-only opener", async () => {
    const b = setup();
    renderServer(b);
    await connected(b);
    await openFromMenu("terminal-new-agent", 1, b);
    await waitFor(() => expect(fx.terms).toHaveLength(1));
    const handler = fx.terms[0].options.linkHandler as { activate: (e: MouseEvent, uri: string) => void; allowNonHttpProtocols: boolean };
    expect(handler.allowNonHttpProtocols).toBe(false);
    for (const hostile of ["javascript:alert(1)", "file:///etc/passwd", "tauri://localhost/", "data:text/html,x"]) handler.activate(new MouseEvent("click"), hostile);
    handler.activate(new MouseEvent("click"), "https://example.com/docs");
    await waitFor(() => expect(b.callsOf("openUrl")).toEqual([["https://example.com/docs"]]));
  });
});

describe("Adopt", () => {
  it("adopts an app created outside AppOS after confirming", async () => {
    const b = setup();
    b.apps.local = [app("legacy", { managed: false })];
    b.on("get_app", app("legacy", { managed: false }), app("legacy", { managed: true }));
    b.on("adopt_app", { app: "legacy", version: 1, deployment_id: null });
    renderServer(b, { view: "app", app: "legacy", tab: "overview" });
    await click("action-adopt");
    const dialog = byId("adopt-dialog");
    expect(dialog.textContent).toContain("version 1");
    expect(dialog.textContent).toContain("Nothing is restarted");
    await click("adopt-confirm");
    await waitFor(() => expect(b.callsOf("adopt_app")).toEqual([["local", { project: "legacy" }]]));
    await waitFor(() => expect(screen.queryByTestId("action-adopt")).toBeNull());
    expect(screen.queryByTestId("adopt-dialog")).toBeNull();
    expect(byId("tab-history")).toBeTruthy();
  });

  it("shows a refusal in the dialog, and cancelling adopts nothing", async () => {
    const b = setup();
    b.apps.local = [app("legacy", { managed: false })];
    b.on("get_app", app("legacy", { managed: false }));
    b.on("adopt_app", uiError("other", "Cannot adopt this project: cannot read the compose files: /srv/legacy/compose.yml: permission denied"));
    renderServer(b, { view: "app", app: "legacy", tab: "overview" });
    await click("action-adopt");
    await click("adopt-confirm");
    const error = await screen.findByTestId("adopt-error");
    expect(error.textContent).toContain("cannot read the compose files");
    expect(byId("adopt-dialog").contains(error)).toBe(true);
    fireEvent.click(screen.getByText("Cancel"));
    expect(screen.queryByTestId("adopt-dialog")).toBeNull();
    expect(byId("action-adopt")).toBeTruthy();
    expect(b.callsOf("adopt_app")).toHaveLength(1);
  });
});
