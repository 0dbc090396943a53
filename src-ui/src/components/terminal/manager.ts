// The terminal tabs of one server, outside React: a tab and its connection
// live until the user closes it, not as long as a component. Switching to
// another server and back, or folding the panel, keeps every shell running
// and its screen; the panel only lends its element to the tab it shows.
import type { Backend } from "../../api/backend";
import { toUiError } from "../../api/backend";
import type { ErrorClass, TerminalEvent, TerminalKind, UiError } from "../../api/desktop.gen";
import type { Terminal } from "../../api/types.gen";
import type { Session } from "../../lib/session";
import type { Engine, SearchResults } from "./engine";
import { askGpu, type Renderer } from "./settings";

export type TabState = "connecting" | "live" | "exited" | "lost";

/**
 * The waits before each automatic reattach of a lost agent session: one
 * after the other, then the last one again until it attaches.
 */
export const REATTACH_MS = [1000, 2000, 4000, 8000, 10_000] as const;

/** Errors that trying again cannot mend: the session is gone, or the server refuses us. */
const FINAL: ReadonlySet<ErrorClass> = new Set<ErrorClass>(["not_found", "unauthorized", "forbidden", "host_key_unknown", "host_key_changed", "auth_rejected", "key_encrypted"]);

/** Whether a lost connection stays lost whatever the retries. */
export function isFinal(error: UiError | null): boolean {
  return error !== null && FINAL.has(error.code);
}

export interface TabInfo {
  /** Stable while the tab shows one screen (reattached or revived in place); a tab reopened anew gets a new one. */
  key: number;
  /** What this connection opened. */
  kind: TerminalKind;
  /** What "Reopen" opens after the process exited. */
  origin: TerminalKind;
  title: string;
  state: TabState;
  /** The agent's session id; none for a server shell. */
  session: string | null;
  /** The exit status, once exited. */
  status: number | null;
  /** Why the connection was lost, or could not be opened. */
  error: UiError | null;
  /** Whether the terminal was opened (a server shell that failed to open is not one the SSH connection took along). */
  opened: boolean;
  /** When a lost agent session is next reattached by itself (ms since the epoch); null when not waiting. */
  retryAt: number | null;
  /** Automatic reattaches tried since the session was last attached; each waits longer. */
  attempts: number;
  cols: number;
  rows: number;
  renderer: Renderer | null;
  searching: boolean;
}

export interface PanelState {
  tabs: TabInfo[];
  active: number | null;
  shown: boolean;
  /** The agent's open sessions, as listed at the last (re)connect. */
  offers: Terminal[];
}

let engineModule: Promise<typeof import("./engine")> | null = null;

/** xterm.js and its addons, loaded with the first terminal. */
export function loadEngine(): Promise<typeof import("./engine")> {
  engineModule ??= import("./engine").catch((e) => {
    engineModule = null;
    throw e;
  });
  return engineModule;
}

export function titleOf(kind: TerminalKind): string {
  switch (kind.type) {
    case "server_shell":
      return "server shell";
    case "agent_shell":
      return "agent shell";
    case "container":
      return `${kind.app}/${kind.service}`;
    case "attach":
      return "session";
  }
}

/** What a listed agent session was opened as. */
export function originOf(t: Terminal): TerminalKind {
  return t.app && t.service ? { type: "container", app: t.app, service: t.service } : { type: "agent_shell" };
}

/** Whether "Reattach" reattaches the tab's session: lost, and not gone from the agent. */
export function canReattach(tab: TabInfo): boolean {
  return tab.state === "lost" && tab.session !== null && tab.error?.code !== "not_found";
}

const encoder = new TextEncoder();

/** Keys and pastes, in order, as one call per batch. */
function join(parts: (string | Uint8Array)[]): string | Uint8Array {
  if (parts.every((p) => typeof p === "string")) return parts.join("");
  const bytes = parts.map((p) => (typeof p === "string" ? encoder.encode(p) : p));
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * What a tab shows when the session it reattaches to was gone (the agent
 * restarted, or the session ended while the connection was down): the old
 * screen stays above, and a new shell opens in the same place.
 */
export const REVIVED = "\r\n\x1b[2m── The session was gone when the connection came back; this is a new shell ──\x1b[0m\r\n";

/** One tab's xterm and its connection. */
class Conn {
  /** Where xterm draws; moved into whichever panel shows the tab. */
  readonly host: HTMLDivElement;
  engine: Engine | null = null;
  handle: number | null = null;
  private mod: typeof import("./engine") | null = null;
  private started = false;
  private gone = false;
  /** The size the server was last told. */
  private sent: [number, number] | null = null;
  private queue: (string | Uint8Array)[] = [];
  private sending = false;
  /** Counts the connections made; what an earlier one still says is ignored. */
  private generation = 0;
  /** The screen is kept until a reattached session's replay comes, which replaces it. */
  private replacing = false;

  constructor(
    private readonly mgr: TerminalManager,
    readonly key: number,
    private kind: TerminalKind,
  ) {
    this.host = document.createElement("div");
    this.host.className = "appos-term h-full w-full";
  }

  attach(slot: HTMLElement) {
    if (this.gone) return;
    if (this.host.parentElement !== slot) slot.appendChild(this.host);
    if (!this.started) {
      this.started = true;
      void this.start();
    } else if (this.engine) this.engine.shown();
    else if (this.mod) this.connect(this.mod);
  }

  detach(slot: HTMLElement) {
    if (this.host.parentElement === slot) slot.removeChild(this.host);
  }

  private async start() {
    try {
      // Whether to draw with WebGL is known before the first terminal draws.
      [this.mod] = await Promise.all([loadEngine(), askGpu(this.mgr.backend)]);
    } catch (e) {
      this.mgr.lost(this.key, toUiError(e));
      return;
    }
    // xterm measures its font when opened: not in an element out of the
    // page (another server's view came first); the next attach opens it.
    if (!this.gone && this.host.isConnected) void this.connect(this.mod);
  }

  private connect(mod: typeof import("./engine")) {
    if (this.engine || this.gone) return;
    const engine = new mod.Engine(this.host, {
      input: (d) => this.input(d),
      resized: (cols, rows) => this.resized(cols, rows),
      openLink: (url) => void this.mgr.backend.openUrl(url).catch(() => undefined),
      find: () => this.mgr.setSearching(this.key, true),
      renderer: (r) => this.mgr.patch(this.key, { renderer: r }),
    });
    this.engine = engine;
    engine.fit();
    this.mgr.patch(this.key, { cols: engine.cols, rows: engine.rows });
    if (this.mgr.snapshot().active === this.key) engine.focus();
    void this.open(engine);
  }

  /**
   * Connects the tab again, to `kind`, in the same screen: a reattached
   * session's replay replaces what it shows; anything else goes below it,
   * after `notice`.
   */
  restart(kind: TerminalKind, notice?: string) {
    if (this.gone) return;
    this.drop();
    this.kind = kind;
    this.replacing = kind.type === "attach";
    if (notice) this.engine?.write(new TextEncoder().encode(notice));
    if (this.engine) void this.open(this.engine);
    else if (this.mod && this.host.isConnected) this.connect(this.mod);
  }

  /** Lets go of the current connection (an agent session lives on). */
  private drop() {
    this.generation++;
    this.queue = [];
    this.sent = null;
    if (this.handle !== null) void this.mgr.backend.terminalClose(this.handle).catch(() => undefined);
    this.handle = null;
  }

  private async open(engine: Engine) {
    const { backend, server } = this.mgr;
    const generation = ++this.generation;
    const current = () => !this.gone && generation === this.generation;
    const replace = () => {
      if (!this.replacing) return;
      this.replacing = false;
      engine.reset();
    };
    const onData = (bytes: Uint8Array) => {
      if (!current()) return;
      replace();
      engine.write(bytes);
    };
    const onEvent = (e: TerminalEvent) => {
      if (!current()) return;
      // Attached: the next loss starts over with a short wait.
      if (e.type === "replayed") {
        replace();
        this.mgr.patch(this.key, (t) => (t.state === "connecting" ? { state: "live", attempts: 0 } : {}));
      } else if (e.type === "exit") this.end({ state: "exited", status: e.status });
      else this.end({ state: "lost", error: e.error });
    };
    const kind = this.kind;
    const cols = engine.cols;
    const rows = engine.rows;
    try {
      const tab = await backend.openTerminal(server, kind, cols, rows, onData, onEvent);
      if (!current()) {
        void backend.terminalClose(tab.handle).catch(() => undefined);
        return;
      }
      this.handle = tab.handle;
      this.sent = [cols, rows];
      const prefix = `${server}: `;
      this.mgr.patch(this.key, (t) => ({
        session: tab.session,
        opened: true,
        title: tab.title.startsWith(prefix) ? tab.title.slice(prefix.length) : tab.title,
        // The SSH shell has nothing to replay; its event may come first or not at all.
        ...(t.state === "connecting" && kind.type === "server_shell" ? { state: "live" as const } : {}),
      }));
      // The panel may have changed size while connecting.
      this.resized(engine.cols, engine.rows);
      this.flush();
    } catch (e) {
      if (current()) this.end({ state: "lost", error: toUiError(e) });
    }
  }

  /** The process exited or the connection broke: no more input goes anywhere. */
  private end(patch: Partial<TabInfo>) {
    this.queue = [];
    if (patch.state === "lost") this.mgr.lost(this.key, patch.error ?? null);
    else this.mgr.patch(this.key, patch);
  }

  private input(data: string | Uint8Array) {
    const state = this.mgr.tab(this.key)?.state;
    if (state !== "connecting" && state !== "live") return;
    // Keys typed while connecting go out once connected; order is kept
    // whatever the IPC does, by one call in flight at a time.
    this.queue.push(data);
    this.flush();
  }

  private flush() {
    if (this.sending || this.handle === null || this.queue.length === 0 || this.gone) return;
    const batch = join(this.queue);
    this.queue = [];
    this.sending = true;
    this.mgr.backend
      .terminalInput(this.handle, batch)
      .catch(() => undefined)
      .finally(() => {
        this.sending = false;
        this.flush();
      });
  }

  private resized(cols: number, rows: number) {
    if (this.gone) return;
    this.mgr.patch(this.key, { cols, rows });
    if (this.handle === null) return;
    if (this.sent && this.sent[0] === cols && this.sent[1] === rows) return;
    this.sent = [cols, rows];
    void this.mgr.backend.terminalResize(this.handle, cols, rows).catch(() => undefined);
  }

  find(query: string, backwards: boolean, incremental?: boolean) {
    return this.engine?.find(query, backwards, incremental) ?? false;
  }

  onSearchResults(fn: (r: SearchResults) => void) {
    return this.engine?.onSearchResults(fn) ?? (() => undefined);
  }

  focus() {
    this.engine?.focus();
  }

  close() {
    if (this.gone) return;
    this.drop();
    this.gone = true;
    this.engine?.dispose();
    this.engine = null;
    this.host.remove();
  }
}

export class TerminalManager {
  private state: PanelState = { tabs: [], active: null, shown: false, offers: [] };
  private readonly listeners = new Set<() => void>();
  private readonly conns = new Map<number, Conn>();
  /** The pending automatic reattaches, by tab. */
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  private next = 0;
  private offersAsked = 0;

  constructor(
    readonly backend: Backend,
    readonly server: string,
  ) {}

  subscribe = (fn: () => void) => {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  };

  snapshot = () => this.state;

  private set(next: Partial<PanelState>) {
    this.state = { ...this.state, ...next };
    for (const fn of this.listeners) fn();
  }

  tab(key: number): TabInfo | undefined {
    return this.state.tabs.find((t) => t.key === key);
  }

  conn(key: number): Conn | undefined {
    return this.conns.get(key);
  }

  patch(key: number, p: Partial<TabInfo> | ((t: TabInfo) => Partial<TabInfo>)) {
    const tabs = this.state.tabs.map((t) => (t.key === key ? { ...t, ...(typeof p === "function" ? p(t) : p) } : t));
    this.set({ tabs });
  }

  private newTab(kind: TerminalKind, origin: TerminalKind): TabInfo {
    const key = this.next++;
    this.conns.set(key, new Conn(this, key, kind));
    return {
      key,
      kind,
      origin,
      title: kind.type === "attach" ? titleOf(origin) : titleOf(kind),
      state: "connecting",
      session: kind.type === "attach" ? kind.id : null,
      status: null,
      error: null,
      opened: false,
      retryAt: null,
      attempts: 0,
      cols: 0,
      rows: 0,
      renderer: null,
      searching: false,
    };
  }

  /** Opens a tab, shows it and the panel. */
  open(kind: TerminalKind, origin: TerminalKind = kind): number {
    const tab = this.newTab(kind, origin);
    this.set({ tabs: [...this.state.tabs, tab], active: tab.key, shown: true });
    return tab.key;
  }

  /** Closes a tab's connection (an agent session lives on); `end` also ends the session. */
  close(key: number, end = false) {
    const tab = this.tab(key);
    if (!tab) return;
    if (end && tab.session && tab.state !== "exited") void this.backend.call(this.server, { call: "kill_terminal", args: { id: tab.session } }).catch(() => undefined);
    this.cancelRetry(key);
    this.conns.get(key)?.close();
    this.conns.delete(key);
    const i = this.state.tabs.indexOf(tab);
    const tabs = this.state.tabs.filter((t) => t.key !== key);
    const active = this.state.active === key ? (tabs[Math.min(i, tabs.length - 1)]?.key ?? null) : this.state.active;
    this.set({ tabs, active });
  }

  /**
   * Opens the tab again in its place: a lost agent session is reattached
   * (its screen replayed); an exited process, a lost server shell or a
   * session the agent no longer has starts anew. `auto`: the automatic
   * reattach, which leaves the panel and the active tab as they are.
   */
  reopen(key: number, auto = false) {
    const tab = this.tab(key);
    if (!tab) return;
    this.cancelRetry(key);
    const conn = this.conns.get(key);
    if (canReattach(tab) && tab.session && conn) {
      // The same screen until the session's replay comes to replace it.
      const kind: TerminalKind = { type: "attach", id: tab.session };
      this.patch(key, { kind, state: "connecting", error: null, retryAt: null, attempts: tab.attempts + 1 });
      conn.restart(kind);
      if (!auto) this.set({ active: key, shown: true });
      return;
    }
    conn?.close();
    this.conns.delete(key);
    const fresh = this.newTab(tab.origin, tab.origin);
    const tabs = this.state.tabs.map((t) => (t.key === key ? fresh : t));
    if (auto) this.set({ tabs, active: this.state.active === key ? fresh.key : this.state.active });
    else this.set({ tabs, active: fresh.key, shown: true });
  }

  /**
   * A session being reattached after a loss was gone from the agent (it
   * restarted, or the session ended meanwhile): a new one of the same kind
   * opens in the tab, below the old screen and a line that says so.
   */
  private revive(key: number) {
    const tab = this.tab(key);
    const conn = this.conns.get(key);
    if (!tab || !conn) return;
    this.patch(key, { kind: tab.origin, state: "connecting", session: null, error: null, retryAt: null, attempts: 0, opened: false });
    conn.restart(tab.origin, REVIVED);
  }

  /**
   * The connection of a tab was lost (or could not be made): an agent
   * session is reattached by itself after a wait, longer at each try,
   * unless trying again cannot help. A server shell went with its SSH
   * connection: nothing to reattach.
   */
  lost(key: number, error: UiError | null) {
    this.cancelRetry(key);
    const tab = this.tab(key);
    if (!tab) return;
    if (error?.code === "not_found" && tab.kind.type === "attach" && tab.attempts > 0) {
      this.revive(key);
      return;
    }
    if (!tab.session || isFinal(error)) {
      this.patch(key, { state: "lost", error, retryAt: null });
      return;
    }
    const wait = REATTACH_MS[Math.min(tab.attempts, REATTACH_MS.length - 1)];
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.reopen(key, true);
      }, wait),
    );
    this.patch(key, { state: "lost", error, retryAt: Date.now() + wait });
  }

  private cancelRetry(key: number) {
    const t = this.timers.get(key);
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(key);
  }

  select(key: number) {
    this.set({ active: key, shown: true });
    this.conns.get(key)?.focus();
  }

  setShown(shown: boolean) {
    this.set({ shown });
  }

  setSearching(key: number, searching: boolean) {
    this.patch(key, { searching });
    if (!searching) {
      this.conns.get(key)?.engine?.clearFind();
      this.conns.get(key)?.focus();
    }
  }

  attach(key: number, slot: HTMLElement) {
    this.conns.get(key)?.attach(slot);
  }

  detach(key: number, slot: HTMLElement) {
    this.conns.get(key)?.detach(slot);
  }

  /** Asks the agent which sessions are open (after a (re)connect). */
  async refreshOffers() {
    const my = ++this.offersAsked;
    try {
      const list = await this.backend.call(this.server, { call: "list_terminals", args: {} });
      if (my === this.offersAsked) this.set({ offers: list.filter((t) => t.exit_status === null) });
    } catch {
      // An older agent, or the connection dropped again: nothing to offer.
    }
  }

  /** The open sessions no tab shows. */
  unshown(): Terminal[] {
    const shown = new Set(this.state.tabs.map((t) => t.session));
    return this.state.offers.filter((o) => !shown.has(o.id));
  }

  dismissOffers() {
    this.offersAsked++;
    this.set({ offers: [] });
  }

  /** Reattaches open sessions; their screens are replayed. */
  reattach(list: Terminal[]) {
    for (const t of list) this.open({ type: "attach", id: t.id }, originOf(t));
    const ids = new Set(list.map((t) => t.id));
    this.set({ offers: this.state.offers.filter((o) => !ids.has(o.id)) });
  }

  /** Ends a session no tab shows. */
  async kill(id: string) {
    await this.backend.call(this.server, { call: "kill_terminal", args: { id } });
    this.set({ offers: this.state.offers.filter((o) => o.id !== id) });
  }

  /** Closes every tab (the server was removed, or the window closes). */
  closeAll() {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
    this.set({ tabs: [], active: null });
  }
}

/** The terminals of a server, kept in the session: they outlive its view. */
export function terminalsOf(session: Session, backend: Backend, server: string): TerminalManager {
  const key = `terminals:${server}`;
  let m = session.store.get(key);
  if (!(m instanceof TerminalManager) || m.backend !== backend) {
    m = new TerminalManager(backend, server);
    session.store.set(key, m);
  }
  return m as TerminalManager;
}

/** Closes every terminal of the session, or of one server. */
export function closeTerminals(session: Session, server?: string) {
  for (const [key, m] of session.store) if (m instanceof TerminalManager && (server === undefined || key === `terminals:${server}`)) m.closeAll();
}
