// The terminal panel of a server view: tabs of xterm.js terminals (a shell
// on the server over SSH, a shell next to the agent, a shell in a
// container). Bytes come from Rust as raw ArrayBuffers and go to xterm
// untouched; keys go back as the raw body of an IPC call. Agent sessions
// outlive the panel: after a reconnect the open ones are offered again and
// reattached with their screen replayed.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { ChevronDown, ChevronUp, Plus, RotateCcw, Search, SquareTerminal, X } from "lucide-react";
import { Terminal as XTerm, type ITheme } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { SearchAddon } from "@xterm/addon-search";
import { WebLinksAddon } from "@xterm/addon-web-links";
import "@xterm/xterm/css/xterm.css";
import type { Backend } from "../api/backend";
import { toUiError } from "../api/backend";
import type { TerminalEvent, TerminalKind, UiError } from "../api/desktop.gen";
import type { App, Terminal } from "../api/types.gen";
import { Button, cx } from "./ui";

export type TabState = "connecting" | "live" | "exited" | "lost";

export interface TermTab {
  key: number;
  kind: TerminalKind;
  title: string;
  state: TabState;
  /** The agent's session (none for a server shell). */
  session: string | null;
  status: number | null;
  error: UiError | null;
}

interface TerminalsApi {
  /** Opens a tab (and shows the panel). */
  open(kind: TerminalKind): void;
}

const TerminalsContext = createContext<TerminalsApi | null>(null);

/** Opens terminal tabs from anywhere in a server view (e.g. an app's page). */
export function useTerminals(): TerminalsApi | null {
  return useContext(TerminalsContext);
}

const FONT_KEY = "appos.terminal.fontSize";
/** "off": draw terminals with the DOM renderer (for GPUs or drivers WebGL misbehaves on). */
const GPU_KEY = "appos.terminal.gpu";

function gpuEnabled(): boolean {
  return localStorage.getItem(GPU_KEY) !== "off";
}

function fontSize(): number {
  const n = Number(localStorage.getItem(FONT_KEY));
  return n >= 8 && n <= 32 ? n : 13;
}

function isDark(): boolean {
  return document.documentElement.classList.contains("dark");
}

const LIGHT: ITheme = {
  background: "#ffffff",
  foreground: "#18181b",
  cursor: "#4f46e5",
  selectionBackground: "#c7d2fe",
  black: "#18181b",
  brightBlack: "#71717a",
};

const DARK: ITheme = {
  background: "#0c0c0f",
  foreground: "#e4e4e7",
  cursor: "#818cf8",
  selectionBackground: "#3730a3",
  black: "#27272a",
  brightBlack: "#71717a",
};

function titleOf(server: string, kind: TerminalKind): string {
  switch (kind.type) {
    case "server_shell":
      return `${server} (SSH)`;
    case "agent_shell":
      return "agent shell";
    case "container":
      return `${kind.app}/${kind.service}`;
    case "attach":
      return "session";
  }
}

/**
 * Wraps a server view's content with the terminal panel below it, and
 * gives the content a way to open tabs.
 */
export function TerminalArea({ backend, server, local, connected, children }: { backend: Backend; server: string; local: boolean; connected: boolean; children: ReactNode }) {
  const [tabs, setTabs] = useState<TermTab[]>([]);
  const [active, setActive] = useState<number | null>(null);
  const [shown, setShown] = useState(false);
  const [height, setHeight] = useState(320);
  const [orphans, setOrphans] = useState<Terminal[]>([]);
  const next = useRef(0);

  const open = useCallback(
    (kind: TerminalKind) => {
      const key = next.current++;
      setTabs((t) => [...t, { key, kind, title: titleOf(server, kind), state: "connecting", session: kind.type === "attach" ? kind.id : null, status: null, error: null }]);
      setActive(key);
      setShown(true);
    },
    [server],
  );

  const update = useCallback((key: number, patch: Partial<TermTab>) => {
    setTabs((t) => t.map((x) => (x.key === key ? { ...x, ...patch } : x)));
  }, []);

  const close = useCallback(
    (key: number, end: boolean) => {
      setTabs((t) => {
        const tab = t.find((x) => x.key === key);
        if (end && tab?.session) void backend.killTerminal(server, tab.session).catch(() => undefined);
        const rest = t.filter((x) => x.key !== key);
        setActive((a) => (a === key ? (rest[rest.length - 1]?.key ?? null) : a));
        return rest;
      });
    },
    [backend, server],
  );

  // After (re)connecting: agent sessions still open that no tab shows.
  useEffect(() => {
    if (!connected) return;
    let gone = false;
    backend
      .listTerminals(server)
      .then((list) => {
        if (!gone) setOrphans(list.filter((t) => t.exit_status === null));
      })
      .catch(() => undefined);
    return () => {
      gone = true;
    };
  }, [backend, server, connected]);
  const shownSessions = new Set(tabs.map((t) => t.session).filter(Boolean));
  const offer = orphans.filter((o) => !shownSessions.has(o.id));

  const api = useMemo(() => ({ open }), [open]);
  return (
    <TerminalsContext.Provider value={api}>
      <div className="flex min-h-0 flex-1 flex-col">
        {children}
        <section
          data-testid="terminal-panel"
          data-shown={shown}
          className="flex shrink-0 flex-col border-t border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-950"
          style={{ height: shown ? height : undefined }}
        >
          {shown && (
            <div
              role="separator"
              aria-orientation="horizontal"
              aria-label="Resize the terminal panel"
              className="h-1 cursor-row-resize bg-transparent hover:bg-indigo-500/40"
              onPointerDown={(e) => {
                const start = e.clientY;
                const from = height;
                const move = (ev: PointerEvent) => setHeight(Math.min(Math.max(from + start - ev.clientY, 140), window.innerHeight - 160));
                const up = () => {
                  window.removeEventListener("pointermove", move);
                  window.removeEventListener("pointerup", up);
                };
                window.addEventListener("pointermove", move);
                window.addEventListener("pointerup", up);
              }}
            />
          )}
          <div className="flex h-9 shrink-0 items-center gap-1 px-3">
            <button
              type="button"
              data-testid="terminal-toggle"
              onClick={() => setShown((s) => !s)}
              className="inline-flex items-center gap-1.5 rounded px-1.5 py-1 text-[13px] font-medium text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-900"
            >
              <SquareTerminal className="size-4" /> Terminal
              {shown ? <ChevronDown className="size-3.5" /> : <ChevronUp className="size-3.5" />}
            </button>
            <div className="flex min-w-0 flex-1 items-center gap-1 overflow-x-auto" role="tablist" aria-label="Terminals">
              {tabs.map((t, i) => (
                <div
                  key={t.key}
                  className={cx(
                    "group inline-flex shrink-0 items-center gap-1 rounded-md border px-2 py-0.5 text-xs",
                    t.key === active && shown
                      ? "border-indigo-300 bg-indigo-50 text-indigo-900 dark:border-indigo-700 dark:bg-indigo-950/50 dark:text-indigo-100"
                      : "border-zinc-200 text-zinc-600 hover:bg-zinc-50 dark:border-zinc-800 dark:text-zinc-400 dark:hover:bg-zinc-900",
                  )}
                >
                  <button
                    type="button"
                    role="tab"
                    aria-selected={t.key === active}
                    data-testid={`terminal-tab-${i}`}
                    data-state={t.state}
                    onClick={() => {
                      setActive(t.key);
                      setShown(true);
                    }}
                    className="inline-flex items-center gap-1.5"
                  >
                    <span className={cx("size-1.5 rounded-full", t.state === "live" ? "bg-emerald-500" : t.state === "connecting" ? "bg-amber-400" : "bg-zinc-400")} />
                    {t.title}
                  </button>
                  <button type="button" aria-label={`Close ${t.title}`} data-testid={`terminal-close-${i}`} onClick={() => close(t.key, false)} className="rounded p-0.5 opacity-60 hover:bg-zinc-200 hover:opacity-100 dark:hover:bg-zinc-800">
                    <X className="size-3" />
                  </button>
                </div>
              ))}
            </div>
            {offer.length > 0 && (
              <Button
                size="sm"
                variant="ghost"
                data-testid="terminal-reattach"
                title={offer.map((o) => `${o.id}: ${o.app ? `${o.app}/${o.service}` : "agent shell"}`).join("\n")}
                onClick={() => {
                  for (const o of offer) open({ type: "attach", id: o.id });
                  setOrphans([]);
                }}
              >
                <RotateCcw className="size-3.5" /> {offer.length} open session{offer.length > 1 ? "s" : ""}: reattach
              </Button>
            )}
            <NewTerminalMenu backend={backend} server={server} local={local} onOpen={open} />
          </div>
          {shown && (
            <div className="relative min-h-0 flex-1">
              {tabs.length === 0 && (
                <p className="px-4 py-6 text-[13px] text-zinc-500">
                  No terminal open. Use <strong>New</strong> for a shell on the server, next to the agent, or in a container.
                </p>
              )}
              {tabs.map((t) => (
                <TermView key={t.key} backend={backend} server={server} tab={t} visible={t.key === active} onUpdate={(p) => update(t.key, p)} onReopen={(kind) => { close(t.key, false); open(kind); }} onEnd={() => close(t.key, true)} />
              ))}
            </div>
          )}
        </section>
      </div>
    </TerminalsContext.Provider>
  );
}

function NewTerminalMenu({ backend, server, local, onOpen }: { backend: Backend; server: string; local: boolean; onOpen: (k: TerminalKind) => void }) {
  const [open, setOpen] = useState(false);
  const [apps, setApps] = useState<App[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [gpu, setGpu] = useState(gpuEnabled);
  useEffect(() => {
    if (!open) return;
    let gone = false;
    backend
      .listApps(server)
      .then((a) => !gone && setApps(a))
      .catch((e) => !gone && setError(toUiError(e)));
    return () => {
      gone = true;
    };
  }, [open, backend, server]);
  const pick = (k: TerminalKind) => {
    setOpen(false);
    onOpen(k);
  };
  const running = (apps ?? []).flatMap((a) => a.services.filter((s) => s.containers.some((c) => c.state === "running")).map((s) => ({ app: a.name, service: s.name })));
  return (
    <div className="relative">
      <Button size="sm" variant="secondary" data-testid="terminal-new" onClick={() => setOpen((o) => !o)}>
        <Plus className="size-3.5" /> New
      </Button>
      {open && (
        <div role="menu" className="absolute right-0 bottom-9 z-20 max-h-80 w-72 overflow-y-auto rounded-lg border border-zinc-200 bg-white p-1 text-[13px] shadow-lg dark:border-zinc-800 dark:bg-zinc-900">
          {!local && (
            <MenuItem testId="terminal-new-server" onClick={() => pick({ type: "server_shell" })} hint="a login shell on the server, over SSH">
              Server shell
            </MenuItem>
          )}
          <MenuItem testId="terminal-new-agent" onClick={() => pick({ type: "agent_shell" })} hint={local ? "a shell on this computer" : "a shell next to the AppOS agent"}>
            Agent shell
          </MenuItem>
          <div className="mt-1 border-t border-zinc-100 px-2 pt-2 pb-1 text-[11px] font-semibold tracking-wide text-zinc-500 uppercase dark:border-zinc-800" data-testid="terminal-new-container">
            Container shell
          </div>
          {error && <p className="px-2 py-1 text-red-600 dark:text-red-400">{error.message}</p>}
          {apps === null && !error && <p className="px-2 py-1 text-zinc-500">Loading apps…</p>}
          {apps !== null && running.length === 0 && <p className="px-2 py-1 text-zinc-500">No running containers.</p>}
          {running.map((r) => (
            <MenuItem key={`${r.app}/${r.service}`} testId={`terminal-new-container-${r.app}-${r.service}`} onClick={() => pick({ type: "container", app: r.app, service: r.service })}>
              <span className="font-mono">
                {r.app}/{r.service}
              </span>
            </MenuItem>
          ))}
          <label className="mt-1 flex cursor-pointer items-center gap-2 border-t border-zinc-100 px-2 pt-2 pb-1 text-xs text-zinc-500 dark:border-zinc-800">
            <input
              type="checkbox"
              data-testid="terminal-gpu"
              className="size-3.5 accent-indigo-600"
              checked={gpu}
              onChange={(e) => {
                localStorage.setItem(GPU_KEY, e.target.checked ? "on" : "off");
                setGpu(e.target.checked);
              }}
            />
            GPU rendering (new tabs)
          </label>
        </div>
      )}
    </div>
  );
}

function MenuItem({ children, hint, onClick, testId }: { children: ReactNode; hint?: string; onClick: () => void; testId: string }) {
  return (
    <button type="button" role="menuitem" data-testid={testId} onClick={onClick} className="block w-full rounded px-2 py-1.5 text-left hover:bg-zinc-100 dark:hover:bg-zinc-800">
      <span className="block">{children}</span>
      {hint && <span className="block text-xs text-zinc-500">{hint}</span>}
    </button>
  );
}

/** One terminal: an xterm.js instance wired to a tab's connection. */
function TermView({
  backend,
  server,
  tab,
  visible,
  onUpdate,
  onReopen,
  onEnd,
}: {
  backend: Backend;
  server: string;
  tab: TermTab;
  visible: boolean;
  onUpdate: (p: Partial<TermTab>) => void;
  onReopen: (kind: TerminalKind) => void;
  onEnd: () => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const term = useRef<XTerm | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const search = useRef<SearchAddon | null>(null);
  const [searching, setSearching] = useState(false);
  const [query, setQuery] = useState("");
  const updateRef = useRef(onUpdate);
  updateRef.current = onUpdate;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const t = new XTerm({
      fontSize: fontSize(),
      fontFamily: 'ui-monospace, "JetBrains Mono", "DejaVu Sans Mono", Menlo, monospace',
      cursorBlink: true,
      scrollback: 10_000,
      allowProposedApi: true,
      theme: isDark() ? DARK : LIGHT,
    });
    const f = new FitAddon();
    const s = new SearchAddon();
    t.loadAddon(f);
    t.loadAddon(s);
    t.loadAddon(new WebLinksAddon((_e, uri) => void backend.openUrl(uri).catch(() => undefined)));
    t.open(el);
    // WebGL when the webview has it (and the user did not turn it off); the DOM renderer otherwise.
    void (gpuEnabled() ? import("@xterm/addon-webgl") : Promise.reject(new Error("GPU rendering is off")))
      .then(({ WebglAddon }) => {
        if (disposed) return;
        const gl = new WebglAddon();
        gl.onContextLoss(() => gl.dispose());
        t.loadAddon(gl);
      })
      .catch(() => undefined);
    try {
      f.fit();
    } catch {
      // Not laid out yet: the observer fits it later.
    }
    term.current = t;
    fit.current = f;
    search.current = s;

    let handle: number | null = null;
    let disposed = false;
    const send = (data: string | Uint8Array) => {
      if (handle !== null) void backend.terminalInput(handle, data).catch(() => undefined);
    };
    const onEvent = (e: TerminalEvent) => {
      if (e.type === "replayed") updateRef.current({ state: "live" });
      else if (e.type === "exit") updateRef.current({ state: "exited", status: e.status });
      else updateRef.current({ state: "lost", error: e.error });
    };
    backend
      .openTerminal(server, tab.kind, t.cols, t.rows, (bytes) => t.write(bytes), onEvent)
      .then((opened) => {
        if (disposed) {
          void backend.terminalClose(opened.handle).catch(() => undefined);
          return;
        }
        handle = opened.handle;
        updateRef.current({ session: opened.session, title: opened.title, ...(tab.kind.type === "server_shell" ? { state: "live" } : {}) });
        // The size may have changed while connecting.
        void backend.terminalResize(opened.handle, t.cols, t.rows).catch(() => undefined);
      })
      .catch((e) => updateRef.current({ state: "lost", error: toUiError(e) }));

    const data = t.onData((d) => send(d));
    const binary = t.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
    const resized = t.onResize(({ cols, rows }) => {
      if (handle !== null) void backend.terminalResize(handle, cols, rows).catch(() => undefined);
    });
    t.attachCustomKeyEventHandler((ev) => {
      if (ev.type !== "keydown") return true;
      const mod = ev.ctrlKey || ev.metaKey;
      if (mod && ev.shiftKey && ev.code === "KeyC") {
        const sel = t.getSelection();
        if (sel) void navigator.clipboard?.writeText(sel).catch(() => undefined);
        return false;
      }
      if (mod && ev.shiftKey && ev.code === "KeyV") {
        void navigator.clipboard?.readText().then((txt) => txt && t.paste(txt)).catch(() => undefined);
        return false;
      }
      if (mod && ev.shiftKey && ev.code === "KeyF") {
        setSearching(true);
        return false;
      }
      if (mod && (ev.key === "=" || ev.key === "+" || ev.key === "-")) {
        const size = Math.min(Math.max((t.options.fontSize ?? 13) + (ev.key === "-" ? -1 : 1), 8), 32);
        t.options.fontSize = size;
        localStorage.setItem(FONT_KEY, String(size));
        f.fit();
        return false;
      }
      return true;
    });

    let timer: ReturnType<typeof setTimeout> | undefined;
    const observer = new ResizeObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (el.offsetWidth > 0 && el.offsetHeight > 0) {
          try {
            f.fit();
          } catch {
            // Hidden: nothing to fit.
          }
        }
      }, 50);
    });
    observer.observe(el);
    const themeWatch = new MutationObserver(() => {
      t.options.theme = isDark() ? DARK : LIGHT;
    });
    themeWatch.observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });

    return () => {
      disposed = true;
      clearTimeout(timer);
      observer.disconnect();
      themeWatch.disconnect();
      data.dispose();
      binary.dispose();
      resized.dispose();
      if (handle !== null) void backend.terminalClose(handle).catch(() => undefined);
      t.dispose();
      term.current = null;
    };
    // One connection per tab: the tab's key is this component's key.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    if (visible) {
      try {
        fit.current?.fit();
      } catch {
        // Not laid out yet.
      }
      term.current?.focus();
    }
  }, [visible]);

  const reopenKind: TerminalKind = tab.state === "lost" && tab.session ? { type: "attach", id: tab.session } : tab.kind.type === "attach" ? { type: "agent_shell" } : tab.kind;
  return (
    <div className={cx("absolute inset-0 flex flex-col", !visible && "invisible")} data-testid={visible ? "terminal-view" : undefined} data-state={tab.state}>
      {(tab.state === "exited" || tab.state === "lost" || searching) && (
        <div className="flex shrink-0 items-center gap-2 border-b border-zinc-200 px-3 py-1 text-xs dark:border-zinc-800" data-testid={visible ? "terminal-status" : undefined}>
          {tab.state === "exited" && <span className="text-zinc-600 dark:text-zinc-400">The process exited with status {tab.status}.</span>}
          {tab.state === "lost" && <span className="text-red-600 dark:text-red-400">{tab.error?.message ?? "The connection was lost."}</span>}
          {(tab.state === "exited" || tab.state === "lost") && (
            <>
              <Button size="sm" variant="secondary" data-testid="terminal-reopen" onClick={() => onReopen(reopenKind)}>
                <RotateCcw className="size-3.5" /> {tab.state === "lost" && tab.session ? "Reattach" : "Reopen"}
              </Button>
              {tab.session && tab.state === "lost" && (
                <Button size="sm" variant="ghost" onClick={onEnd}>
                  End session
                </Button>
              )}
            </>
          )}
          {searching && (
            <span className="ml-auto inline-flex items-center gap-1">
              <Search className="size-3.5 text-zinc-500" />
              <input
                autoFocus
                aria-label="Search the terminal"
                value={query}
                onChange={(e) => {
                  setQuery(e.target.value);
                  search.current?.findNext(e.target.value, { incremental: true });
                }}
                onKeyDown={(e) => {
                  if (e.key === "Enter") search.current?.[e.shiftKey ? "findPrevious" : "findNext"](query);
                  if (e.key === "Escape") {
                    setSearching(false);
                    term.current?.focus();
                  }
                }}
                className="h-6 w-48 rounded border border-zinc-300 bg-transparent px-1.5 dark:border-zinc-700"
              />
              <button type="button" aria-label="Close search" onClick={() => setSearching(false)}>
                <X className="size-3.5" />
              </button>
            </span>
          )}
        </div>
      )}
      <div ref={box} className="min-h-0 flex-1 px-2 py-1" onContextMenu={(e) => {
        e.preventDefault();
        void navigator.clipboard?.readText().then((txt) => txt && term.current?.paste(txt)).catch(() => undefined);
      }} />
    </div>
  );
}
