// The terminal panel of a server view: tabs of xterm.js terminals (a shell
// on the server over SSH, a shell next to the agent, a shell in a
// container). Bytes come from Rust as raw ArrayBuffers and go to xterm
// untouched; keys go back as the raw body of an IPC call. The tabs live in
// the session (terminal/manager.ts): folding the panel or visiting another
// server keeps them running. Agent sessions outlive the app too: after a
// (re)connect the open ones are offered again, and reattached with their
// screen replayed.
import { createContext, useContext, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import {
  AArrowDown,
  AArrowUp,
  ArrowDown,
  ArrowUp,
  Check,
  ChevronDown,
  ChevronUp,
  Container,
  Cpu,
  Maximize2,
  Minimize2,
  Plus,
  Power,
  RotateCcw,
  Search,
  Server,
  SquareTerminal,
  X,
} from "lucide-react";
import type { Backend } from "../api/backend";
import { toUiError } from "../api/backend";
import type { TerminalKind, UiError } from "../api/desktop.gen";
import type { App, Terminal } from "../api/types.gen";
import { fmtAgo } from "../lib/format";
import { useTick } from "../lib/hooks";
import { useSession } from "../lib/session";
import { canReattach, loadEngine, terminalsOf, type TabInfo, type TerminalManager } from "./terminal/manager";
import { gpuEnabled, panelHeight, setGpuEnabled, setPanelHeight } from "./terminal/settings";
import { Button, cx } from "./ui";

export type { TabState } from "./terminal/manager";

interface TerminalsApi {
  /** Opens a tab (and shows the panel). */
  open(kind: TerminalKind): void;
}

const TerminalsContext = createContext<TerminalsApi | null>(null);

/** Opens terminal tabs from anywhere in a server view (e.g. an app's page). */
export function useTerminals(): TerminalsApi | null {
  return useContext(TerminalsContext);
}

const MIN_HEIGHT = 140;

/** xterm.js loads while the user picks what to open. */
function warm() {
  void loadEngine().catch(() => undefined);
}

function kindIcon(kind: TerminalKind, className = "size-3.5") {
  switch (kind.type) {
    case "server_shell":
      return <Server className={className} aria-hidden />;
    case "container":
      return <Container className={className} aria-hidden />;
    default:
      return <Cpu className={className} aria-hidden />;
  }
}

function describe(tab: TabInfo, server: string, local: boolean): string {
  switch (tab.origin.type) {
    case "server_shell":
      return `Login shell on ${server}, over SSH`;
    case "container":
      return `Shell in ${tab.origin.app}/${tab.origin.service}`;
    default:
      return local ? "Shell on this computer, run by the AppOS agent" : `Shell on ${server}, run by the AppOS agent`;
  }
}

/** "blog/web", "blog/web (2)": tabs of the same thing told apart. */
function labels(tabs: TabInfo[]): string[] {
  const seen = new Map<string, number>();
  return tabs.map((t) => {
    const n = (seen.get(t.title) ?? 0) + 1;
    seen.set(t.title, n);
    return n > 1 ? `${t.title} (${n})` : t.title;
  });
}

/**
 * Wraps a server view's content with the terminal panel below it, and
 * gives the content a way to open tabs.
 */
export function TerminalArea({ backend, server, local, connected, children }: { backend: Backend; server: string; local: boolean; connected: boolean; children: ReactNode }) {
  const session = useSession();
  const mgr = useMemo(() => terminalsOf(session, backend, server), [session, backend, server]);
  const st = useSyncExternalStore(mgr.subscribe, mgr.snapshot);
  const [height, setHeight] = useState(panelHeight);
  const [maximized, setMaximized] = useState(false);

  // After (re)connecting: agent sessions still open that no tab shows.
  useEffect(() => {
    if (connected) void mgr.refreshOffers();
  }, [mgr, connected]);

  // Ctrl+` folds and unfolds the panel, as in code editors.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.type === "keydown" && e.ctrlKey && !e.shiftKey && !e.altKey && e.code === "Backquote") {
        e.preventDefault();
        e.stopPropagation();
        mgr.setShown(!mgr.snapshot().shown);
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, [mgr]);

  const api = useMemo(() => ({ open: (k: TerminalKind) => void mgr.open(k) }), [mgr]);
  const offers = mgr.unshown();
  const active = st.tabs.find((t) => t.key === st.active) ?? null;
  const names = labels(st.tabs);

  return (
    <TerminalsContext.Provider value={api}>
      <div className="flex min-h-0 flex-1 flex-col">
        {children}
        <section
          data-testid="terminal-panel"
          data-shown={st.shown}
          aria-label="Terminals"
          className="relative flex shrink-0 flex-col border-t border-zinc-200 bg-zinc-50 dark:border-zinc-800 dark:bg-zinc-900/40"
          style={{ height: st.shown ? (maximized ? "calc(100% - 48px)" : height) : undefined, maxHeight: st.shown ? "calc(100% - 48px)" : undefined }}
        >
          {st.shown && (
            <div
              role="separator"
              aria-orientation="horizontal"
              aria-label="Resize the terminal panel"
              title="Drag to resize"
              className="absolute inset-x-0 -top-1 z-10 h-2 cursor-row-resize transition-colors hover:bg-indigo-500/30 active:bg-indigo-500/40"
              onPointerDown={(e) => {
                e.preventDefault();
                const start = e.clientY;
                const from = (e.currentTarget.parentElement as HTMLElement).offsetHeight || height;
                let h = from;
                const move = (ev: PointerEvent) => {
                  h = Math.min(Math.max(from + start - ev.clientY, MIN_HEIGHT), window.innerHeight - 140);
                  setMaximized(false);
                  setHeight(h);
                };
                const up = () => {
                  window.removeEventListener("pointermove", move);
                  window.removeEventListener("pointerup", up);
                  setPanelHeight(h);
                };
                window.addEventListener("pointermove", move);
                window.addEventListener("pointerup", up);
              }}
              onDoubleClick={() => setMaximized((m) => !m)}
            />
          )}
          <div className="flex h-9 shrink-0 items-center gap-1 pr-2 pl-2">
            <button
              type="button"
              data-testid="terminal-toggle"
              aria-expanded={st.shown}
              title={st.shown ? "Hide the terminals (Ctrl+`)" : "Show the terminals (Ctrl+`)"}
              onClick={() => mgr.setShown(!st.shown)}
              className="inline-flex shrink-0 items-center gap-1.5 rounded-md px-2 py-1 text-[13px] font-medium text-zinc-700 hover:bg-zinc-200/70 dark:text-zinc-300 dark:hover:bg-zinc-800"
            >
              <SquareTerminal className="size-4 text-zinc-500" aria-hidden /> Terminal
              {st.tabs.length > 0 && <span className="rounded-full bg-zinc-200 px-1.5 text-[11px] text-zinc-600 tabular-nums dark:bg-zinc-800 dark:text-zinc-400">{st.tabs.length}</span>}
            </button>
            <span className="mx-1 h-4 w-px shrink-0 bg-zinc-200 dark:bg-zinc-800" aria-hidden />
            <div className="flex min-w-0 flex-1 items-center gap-0.5 overflow-x-auto [scrollbar-width:thin]" role="tablist" aria-label="Open terminals">
              {st.tabs.map((t, i) => (
                <TabButton key={t.key} tab={t} index={i} label={names[i]} selected={t.key === st.active && st.shown} onSelect={() => mgr.select(t.key)} onClose={() => mgr.close(t.key)} />
              ))}
              <NewTerminalMenu mgr={mgr} backend={backend} server={server} local={local} onWarm={warm} compact={st.tabs.length > 0} />
            </div>
            {offers.length > 0 && <Offers mgr={mgr} offers={offers} />}
            {st.shown && (
              <button
                type="button"
                data-testid="terminal-maximize"
                aria-label={maximized ? "Restore the panel's height" : "Maximize the panel"}
                title={maximized ? "Restore the panel's height" : "Maximize the panel"}
                onClick={() => setMaximized((m) => !m)}
                className="shrink-0 rounded-md p-1 text-zinc-500 hover:bg-zinc-200/70 hover:text-zinc-800 dark:hover:bg-zinc-800 dark:hover:text-zinc-200"
              >
                {maximized ? <Minimize2 className="size-3.5" /> : <Maximize2 className="size-3.5" />}
              </button>
            )}
            <button
              type="button"
              aria-label={st.shown ? "Hide the terminals" : "Show the terminals"}
              onClick={() => mgr.setShown(!st.shown)}
              className="shrink-0 rounded-md p-1 text-zinc-500 hover:bg-zinc-200/70 hover:text-zinc-800 dark:hover:bg-zinc-800 dark:hover:text-zinc-200"
            >
              {st.shown ? <ChevronDown className="size-4" /> : <ChevronUp className="size-4" />}
            </button>
          </div>
          <div className={cx("relative min-h-0 flex-1 border-t border-zinc-200 bg-white dark:border-zinc-800 dark:bg-[#09090b]", !st.shown && "hidden")}>
            {st.tabs.length === 0 && <EmptyPanel mgr={mgr} local={local} onWarm={warm} />}
            {st.tabs.map((t) => (
              <Slot key={t.key} mgr={mgr} tab={t} active={t.key === st.active} shown={st.shown} />
            ))}
          </div>
          {st.shown && active && <StatusBar mgr={mgr} tab={active} server={server} local={local} />}
        </section>
      </div>
    </TerminalsContext.Provider>
  );
}

function stateDot(tab: TabInfo) {
  const { state } = tab;
  return cx(
    "size-1.5 shrink-0 rounded-full",
    state === "live"
      ? "bg-emerald-500"
      : state === "connecting" || (state === "lost" && tab.retryAt !== null)
        ? "animate-pulse bg-amber-400"
        : state === "lost"
          ? "bg-red-500"
          : "bg-zinc-400 dark:bg-zinc-500",
  );
}

/** Whole seconds left until `at`, at least 1 (the try is due). */
function secondsUntil(at: number): number {
  return Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

function TabButton({ tab, index, label, selected, onSelect, onClose }: { tab: TabInfo; index: number; label: string; selected: boolean; onSelect: () => void; onClose: () => void }) {
  return (
    <div
      className={cx(
        "group relative inline-flex h-7 max-w-56 shrink-0 items-center rounded-md text-xs transition-colors",
        selected
          ? "bg-white text-zinc-900 shadow-sm ring-1 ring-zinc-200 dark:bg-zinc-800 dark:text-zinc-100 dark:ring-zinc-700"
          : "text-zinc-600 hover:bg-zinc-200/60 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800/70 dark:hover:text-zinc-100",
      )}
      onAuxClick={(e) => {
        // Middle click closes, as browser tabs do.
        if (e.button === 1) {
          e.preventDefault();
          onClose();
        }
      }}
    >
      <button
        type="button"
        role="tab"
        aria-selected={selected}
        data-testid={`terminal-tab-${index}`}
        data-state={tab.state}
        title={`${label}${tab.session ? ` · session ${tab.session}` : ""} · ${tab.state}`}
        onClick={onSelect}
        className="inline-flex min-w-0 items-center gap-1.5 py-1 pr-1 pl-2"
      >
        <span className={stateDot(tab)} aria-hidden />
        <span className="text-zinc-400 dark:text-zinc-500">{kindIcon(tab.origin)}</span>
        <span className="truncate font-medium">{label}</span>
      </button>
      <button
        type="button"
        aria-label={`Close ${label}`}
        title={tab.session && tab.state !== "exited" ? "Close the tab (the session keeps running on the server)" : "Close the tab"}
        data-testid={`terminal-close-${index}`}
        onClick={onClose}
        className={cx("mr-1 rounded p-0.5 text-zinc-400 hover:bg-zinc-200 hover:text-zinc-700 dark:hover:bg-zinc-700 dark:hover:text-zinc-200", !selected && "opacity-0 group-hover:opacity-100 focus:opacity-100")}
      >
        <X className="size-3" />
      </button>
    </div>
  );
}

/** One tab's place in the panel: it lends its element to the tab's xterm. */
function Slot({ mgr, tab, active, shown }: { mgr: TerminalManager; tab: TabInfo; active: boolean; shown: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    mgr.attach(tab.key, el);
    return () => mgr.detach(tab.key, el);
  }, [mgr, tab.key]);
  useEffect(() => {
    if (active && shown) mgr.conn(tab.key)?.engine?.fit();
    if (active && shown) mgr.conn(tab.key)?.focus();
  }, [mgr, tab.key, active, shown]);
  return (
    <div
      ref={ref}
      data-testid={active ? "terminal-view" : undefined}
      data-state={tab.state}
      data-renderer={tab.renderer ?? undefined}
      className={cx("absolute inset-0 overflow-hidden py-1.5 pr-1 pl-3", !active && "invisible")}
    />
  );
}

function EmptyPanel({ mgr, local, onWarm }: { mgr: TerminalManager; local: boolean; onWarm: () => void }) {
  useEffect(onWarm, [onWarm]);
  return (
    <div className="flex h-full flex-col items-center justify-center gap-3 px-6 text-center">
      <SquareTerminal className="size-7 text-zinc-300 dark:text-zinc-700" aria-hidden />
      <p className="max-w-md text-[13px] text-zinc-500">
        {local ? "A shell on this computer, or in one of its containers." : "A login shell on the server, a shell next to the AppOS agent, or one in a container."} Agent and container sessions keep running when you close the tab or the app.
      </p>
      <div className="flex flex-wrap justify-center gap-2">
        {!local && (
          <Button size="sm" variant="secondary" data-testid="terminal-empty-server" onClick={() => mgr.open({ type: "server_shell" })}>
            <Server className="size-3.5" /> Server shell
          </Button>
        )}
        <Button size="sm" variant="secondary" data-testid="terminal-empty-agent" onClick={() => mgr.open({ type: "agent_shell" })}>
          <Cpu className="size-3.5" /> Agent shell
        </Button>
      </div>
    </div>
  );
}

function useDismiss(open: boolean, close: () => void) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) close();
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") close();
    };
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open, close]);
  return ref;
}

function NewTerminalMenu({ mgr, backend, server, local, onWarm, compact }: { mgr: TerminalManager; backend: Backend; server: string; local: boolean; onWarm: () => void; compact: boolean }) {
  const [open, setOpen] = useState(false);
  const [apps, setApps] = useState<App[] | null>(null);
  const [sessions, setSessions] = useState<Terminal[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [filter, setFilter] = useState("");
  const [gpu, setGpu] = useState(gpuEnabled);
  const filterRef = useRef<HTMLInputElement>(null);
  const close = useMemo(() => () => setOpen(false), []);
  const ref = useDismiss(open, close);
  const st = useSyncExternalStore(mgr.subscribe, mgr.snapshot);

  useEffect(() => {
    if (!open) return;
    let gone = false;
    setError(null);
    setFilter("");
    backend
      .call(server, { call: "list_apps", args: {} })
      .then((a) => !gone && setApps(a))
      .catch((e) => !gone && setError(toUiError(e)));
    backend
      .call(server, { call: "list_terminals", args: {} })
      .then((l) => !gone && setSessions(l.filter((t) => t.exit_status === null)))
      .catch(() => !gone && setSessions([]));
    return () => {
      gone = true;
    };
  }, [open, backend, server]);

  const pick = (k: TerminalKind) => {
    setOpen(false);
    mgr.open(k);
  };
  const running = (apps ?? []).flatMap((a) => a.services.filter((s) => s.containers.some((c) => c.state === "running")).map((s) => ({ app: a.name, service: s.name })));
  const q = filter.trim().toLowerCase();
  const shownRunning = q ? running.filter((r) => `${r.app}/${r.service}`.toLowerCase().includes(q)) : running;
  const inTabs = new Set(st.tabs.map((t) => t.session));
  const detached = (sessions ?? []).filter((s) => !inTabs.has(s.id));

  return (
    <div className="relative shrink-0" ref={ref}>
      <button
        type="button"
        data-testid="terminal-new"
        aria-haspopup="menu"
        aria-expanded={open}
        title="New terminal"
        onMouseEnter={onWarm}
        onClick={() => {
          onWarm();
          setOpen((o) => !o);
        }}
        className={cx(
          "inline-flex h-7 items-center gap-1 rounded-md text-xs font-medium text-zinc-600 hover:bg-zinc-200/70 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100",
          compact ? "px-1.5" : "px-2",
          open && "bg-zinc-200/70 dark:bg-zinc-800",
        )}
      >
        <Plus className="size-4" /> {!compact && "New"}
        <ChevronDown className="size-3 opacity-60" />
      </button>
      {open && (
        <div
          role="menu"
          aria-label="New terminal"
          className="fixed z-30 mt-1 max-h-[26rem] w-80 overflow-y-auto rounded-lg border border-zinc-200 bg-white p-1 text-[13px] shadow-xl ring-1 ring-black/5 dark:border-zinc-700 dark:bg-zinc-900"
          ref={(el) => {
            // Above the button: the panel sits at the bottom of the window.
            if (!el || !ref.current) return;
            const r = ref.current.getBoundingClientRect();
            el.style.left = `${Math.max(8, Math.min(r.left, window.innerWidth - el.offsetWidth - 8))}px`;
            el.style.bottom = `${Math.max(8, window.innerHeight - r.top + 4)}px`;
          }}
        >
          {!local && (
            <MenuItem testId="terminal-new-server" icon={<Server className="size-4" />} onClick={() => pick({ type: "server_shell" })} hint="Login shell on the server, over SSH">
              Server shell
            </MenuItem>
          )}
          <MenuItem testId="terminal-new-agent" icon={<Cpu className="size-4" />} onClick={() => pick({ type: "agent_shell" })} hint={local ? "Shell on this computer, run by the agent" : "Shell next to the AppOS agent; survives disconnects"}>
            Agent shell
          </MenuItem>
          <div className="my-1 border-t border-zinc-100 dark:border-zinc-800" />
          <div role="group" aria-label="Container shell" data-testid="terminal-new-container-group">
            <button
              type="button"
              data-testid="terminal-new-container"
              onClick={() => filterRef.current?.focus()}
              className="flex w-full items-center gap-2 px-2 pt-1.5 pb-1 text-left text-[11px] font-semibold tracking-wide text-zinc-500 uppercase"
            >
              <Container className="size-3.5" /> Container shell…
            </button>
            {running.length > 6 && (
              <div className="px-1.5 pb-1">
                <input
                  ref={filterRef}
                  data-testid="terminal-new-container-filter"
                  aria-label="Filter containers"
                  placeholder="Filter app/service"
                  value={filter}
                  onChange={(e) => setFilter(e.target.value)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter" && shownRunning.length > 0) pick({ type: "container", ...shownRunning[0] });
                  }}
                  className="h-7 w-full rounded-md border border-zinc-200 bg-white px-2 text-xs focus:border-indigo-500 focus:outline-none dark:border-zinc-700 dark:bg-zinc-950"
                />
              </div>
            )}
            {error && <p className="px-2 py-1 text-xs text-red-600 dark:text-red-400">{error.message}</p>}
            {apps === null && !error && <p className="px-2 py-1 text-xs text-zinc-500">Loading apps…</p>}
            {apps !== null && running.length === 0 && <p className="px-2 py-1 text-xs text-zinc-500">No running containers.</p>}
            {shownRunning.map((r) => (
              <MenuItem key={`${r.app}/${r.service}`} testId={`terminal-new-container-${r.app}-${r.service}`} onClick={() => pick({ type: "container", app: r.app, service: r.service })} dense>
                <span className="font-mono text-xs">
                  {r.app}
                  <span className="text-zinc-400">/</span>
                  {r.service}
                </span>
              </MenuItem>
            ))}
          </div>
          {detached.length > 0 && (
            <>
              <div className="my-1 border-t border-zinc-100 dark:border-zinc-800" />
              <p className="px-2 pt-1.5 pb-1 text-[11px] font-semibold tracking-wide text-zinc-500 uppercase">Open sessions</p>
              {detached.map((s) => (
                <div key={s.id} className="flex items-center gap-1 rounded-md px-2 py-1 hover:bg-zinc-50 dark:hover:bg-zinc-800/60">
                  <span className="min-w-0 flex-1">
                    <span className="block truncate font-mono text-xs">{s.app ? `${s.app}/${s.service}` : "agent shell"}</span>
                    <span className="block truncate text-[11px] text-zinc-500">
                      {s.id} · active {fmtAgo(s.active_ms)}
                      {s.viewers > 0 && ` · ${s.viewers} viewer${s.viewers > 1 ? "s" : ""}`}
                    </span>
                  </span>
                  <Button size="sm" variant="ghost" className="h-6 px-2 text-xs" data-testid={`terminal-attach-${s.id}`} onClick={() => { setOpen(false); mgr.reattach([s]); }}>
                    Attach
                  </Button>
                  <Button
                    size="sm"
                    variant="ghost"
                    className="h-6 px-2 text-xs text-red-600 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-950/40"
                    data-testid={`terminal-kill-${s.id}`}
                    onClick={() => void mgr.kill(s.id).then(() => setSessions((l) => l?.filter((x) => x.id !== s.id) ?? null)).catch((e) => setError(toUiError(e)))}
                  >
                    End
                  </Button>
                </div>
              ))}
            </>
          )}
          <div className="my-1 border-t border-zinc-100 dark:border-zinc-800" />
          <button
            type="button"
            role="menuitemcheckbox"
            aria-checked={gpu}
            data-testid="terminal-gpu"
            onClick={() => {
              setGpuEnabled(!gpu);
              setGpu(!gpu);
              void loadEngine().then((m) => m.applyGpu()).catch(() => undefined);
            }}
            className="flex w-full items-center gap-2 rounded-md px-2 py-1.5 text-left text-xs text-zinc-600 hover:bg-zinc-100 dark:text-zinc-400 dark:hover:bg-zinc-800"
          >
            <span className={cx("flex size-4 items-center justify-center rounded border", gpu ? "border-indigo-500 bg-indigo-500 text-white" : "border-zinc-300 dark:border-zinc-600")}>
              {gpu && <Check className="size-3" />}
            </span>
            GPU rendering (WebGL)
          </button>
        </div>
      )}
    </div>
  );
}

function MenuItem({ children, hint, icon, onClick, testId, dense }: { children: ReactNode; hint?: string; icon?: ReactNode; onClick: () => void; testId: string; dense?: boolean }) {
  return (
    <button
      type="button"
      role="menuitem"
      data-testid={testId}
      onClick={onClick}
      className={cx("flex w-full items-start gap-2.5 rounded-md px-2 text-left hover:bg-zinc-100 focus-visible:bg-zinc-100 focus-visible:outline-none dark:hover:bg-zinc-800 dark:focus-visible:bg-zinc-800", dense ? "py-1 pl-7" : "py-1.5")}
    >
      {icon && <span className="mt-0.5 text-zinc-500">{icon}</span>}
      <span className="min-w-0">
        <span className="block font-medium text-zinc-800 dark:text-zinc-100">{children}</span>
        {hint && <span className="block text-xs text-zinc-500">{hint}</span>}
      </span>
    </button>
  );
}

function Offers({ mgr, offers }: { mgr: TerminalManager; offers: Terminal[] }) {
  const n = offers.length;
  return (
    <div className="ml-1 inline-flex shrink-0 items-center rounded-md bg-amber-50 text-xs text-amber-900 ring-1 ring-amber-200 ring-inset dark:bg-amber-500/10 dark:text-amber-300 dark:ring-amber-500/30">
      <button
        type="button"
        data-testid="terminal-reattach"
        title={offers.map((o) => `${o.id}: ${o.app ? `${o.app}/${o.service}` : "agent shell"}${o.viewers ? ` (${o.viewers} viewer${o.viewers > 1 ? "s" : ""})` : ""}`).join("\n")}
        onClick={() => mgr.reattach(offers)}
        className="inline-flex h-7 items-center gap-1.5 rounded-l-md px-2 font-medium hover:bg-amber-100 dark:hover:bg-amber-500/20"
      >
        <RotateCcw className="size-3.5" />
        {n === 1 ? "1 session" : `${n} sessions`} still open — reattach
      </button>
      <button type="button" aria-label="Dismiss" data-testid="terminal-reattach-dismiss" onClick={() => mgr.dismissOffers()} className="h-7 rounded-r-md px-1.5 hover:bg-amber-100 dark:hover:bg-amber-500/20">
        <X className="size-3" />
      </button>
    </div>
  );
}

function StatusBar({ mgr, tab, server, local }: { mgr: TerminalManager; tab: TabInfo; server: string; local: boolean }) {
  const agentSession = tab.session !== null && tab.state !== "exited";
  // A lost agent session waiting for its automatic reattach: counts down.
  const waiting = tab.state === "lost" && tab.retryAt !== null;
  useTick(waiting);
  // A server shell is a PTY on the SSH connection itself: it went with it.
  const shellGone = tab.state === "lost" && tab.kind.type === "server_shell" && tab.opened;
  const reopenLabel =
    tab.state === "exited" ? "Reopen" : waiting ? "Reattach now" : shellGone ? "Open a new one" : canReattach(tab) ? "Reattach" : "Reopen";
  const tone = waiting
    ? "bg-amber-50 text-amber-900 dark:bg-amber-500/10 dark:text-amber-300"
    : tab.state === "lost"
      ? "bg-red-50 text-red-800 dark:bg-red-950/40 dark:text-red-300"
      : tab.state === "exited"
        ? "bg-zinc-100 text-zinc-700 dark:bg-zinc-900 dark:text-zinc-300"
        : "text-zinc-500 dark:text-zinc-400";
  return (
    <div
      data-testid="terminal-status"
      data-state={tab.state}
      role="status"
      className={cx("flex h-8 shrink-0 items-center gap-2 border-t border-zinc-200 px-3 text-xs dark:border-zinc-800", tone)}
    >
      <span className={stateDot(tab)} aria-hidden />
      <span className="min-w-0 flex-1 truncate" data-testid="terminal-message" title={tab.state === "lost" ? (tab.error?.message ?? undefined) : undefined}>
        {tab.state === "connecting" && (
          <>
            {tab.attempts > 0 ? "Reattaching" : "Connecting"} · {describe(tab, server, local)}…
          </>
        )}
        {tab.state === "live" && (
          <>
            {describe(tab, server, local)}
            {tab.session && <span className="ml-2 font-mono text-[11px] text-zinc-400 dark:text-zinc-500">{tab.session}</span>}
          </>
        )}
        {tab.state === "exited" && <span className="font-medium">The process exited with status {tab.status}.</span>}
        {tab.state === "lost" && (
          <span className="font-medium">
            {waiting && tab.retryAt !== null
              ? `Connection lost — reattaching in ${secondsUntil(tab.retryAt)} s`
              : shellGone
                ? "The server shell ended with the SSH connection."
                : (tab.error?.message ?? "The connection to the terminal was lost.")}
          </span>
        )}
      </span>
      {(tab.state === "exited" || tab.state === "lost") && (
        <Button
          size="sm"
          variant={tab.state === "lost" ? "primary" : "secondary"}
          className="h-6 px-2 text-xs"
          data-testid="terminal-reopen"
          title={shellGone ? "Open a new server shell in this tab" : undefined}
          onClick={() => mgr.reopen(tab.key)}
        >
          <RotateCcw className="size-3" aria-hidden />
          {reopenLabel}
        </Button>
      )}
      {tab.searching ? (
        <SearchBox mgr={mgr} tab={tab} />
      ) : (
        <>
          {tab.cols > 0 && tab.state !== "lost" && (
            <span className="hidden font-mono text-[11px] text-zinc-400 tabular-nums sm:inline" data-testid="terminal-size" title={tab.renderer === "webgl" ? "Drawn with WebGL" : "Drawn with the DOM renderer"}>
              {tab.cols}×{tab.rows}
              {tab.renderer === "dom" && " · DOM"}
            </span>
          )}
          <IconButton label="Find (Ctrl+Shift+F)" testId="terminal-search-open" onClick={() => mgr.setSearching(tab.key, true)}>
            <Search className="size-3.5" />
          </IconButton>
          <IconButton label="Smaller text (Ctrl+-)" testId="terminal-font-smaller" onClick={() => void loadEngine().then((m) => m.zoom(-1))}>
            <AArrowDown className="size-3.5" />
          </IconButton>
          <IconButton label="Larger text (Ctrl+=)" testId="terminal-font-larger" onClick={() => void loadEngine().then((m) => m.zoom(1))}>
            <AArrowUp className="size-3.5" />
          </IconButton>
        </>
      )}
      {agentSession && (
        <Button
          size="sm"
          variant="ghost"
          className="h-6 px-2 text-xs text-zinc-500 hover:bg-red-50 hover:text-red-700 dark:hover:bg-red-950/40 dark:hover:text-red-400"
          data-testid="terminal-end"
          title="End the session and its process on the server, and close the tab"
          onClick={() => mgr.close(tab.key, true)}
        >
          <Power className="size-3" /> End session
        </Button>
      )}
    </div>
  );
}

function IconButton({ label, testId, onClick, children }: { label: string; testId: string; onClick: () => void; children: ReactNode }) {
  return (
    <button type="button" aria-label={label} title={label} data-testid={testId} onClick={onClick} className="rounded p-1 text-zinc-500 hover:bg-zinc-200/70 hover:text-zinc-800 dark:hover:bg-zinc-800 dark:hover:text-zinc-200">
      {children}
    </button>
  );
}

function SearchBox({ mgr, tab }: { mgr: TerminalManager; tab: TabInfo }) {
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<{ index: number; count: number } | null>(null);
  const [missed, setMissed] = useState(false);
  const conn = mgr.conn(tab.key);
  useEffect(() => conn?.onSearchResults(setResults), [conn]);
  const find = (backwards: boolean, incremental = false) => {
    const found = conn?.find(query, backwards, incremental) ?? false;
    setMissed(!!query && !found);
  };
  return (
    <span className="inline-flex items-center gap-1" role="search">
      <span className="relative">
        <Search className="pointer-events-none absolute top-1.5 left-1.5 size-3 text-zinc-400" />
        <input
          autoFocus
          data-testid="terminal-search"
          aria-label="Find in the terminal"
          placeholder="Find"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            const found = conn?.find(e.target.value, false, true) ?? false;
            setMissed(!!e.target.value && !found);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") find(e.shiftKey);
            if (e.key === "Escape") mgr.setSearching(tab.key, false);
          }}
          className={cx(
            "h-6 w-44 rounded-md border bg-white pr-1.5 pl-5 text-xs text-zinc-900 focus:ring-2 focus:ring-indigo-500/20 focus:outline-none dark:bg-zinc-950 dark:text-zinc-100",
            missed ? "border-red-400 focus:border-red-500" : "border-zinc-300 focus:border-indigo-500 dark:border-zinc-700",
          )}
        />
      </span>
      <span className="w-14 text-center text-[11px] text-zinc-500 tabular-nums" data-testid="terminal-search-count">
        {query ? (results && results.count > 0 ? `${results.index + 1} of ${results.count}` : missed ? "none" : "") : ""}
      </span>
      <IconButton label="Previous match (Shift+Enter)" testId="terminal-search-prev" onClick={() => find(true)}>
        <ArrowUp className="size-3.5" />
      </IconButton>
      <IconButton label="Next match (Enter)" testId="terminal-search-next" onClick={() => find(false)}>
        <ArrowDown className="size-3.5" />
      </IconButton>
      <IconButton label="Close the search (Escape)" testId="terminal-search-close" onClick={() => mgr.setSearching(tab.key, false)}>
        <X className="size-3.5" />
      </IconButton>
    </span>
  );
}
