// The xterm.js side of a terminal tab, loaded with the first terminal (its
// own chunk: the main bundle stays small). Bytes go in untouched, keys come
// out as typed; the size follows the element; the font size, the renderer
// (WebGL or DOM) and the theme are shared by every terminal of the window.
import { Terminal, type ITheme } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { SearchAddon, type ISearchOptions } from "@xterm/addon-search";
import { WebLinksAddon } from "@xterm/addon-web-links";
import { WebglAddon } from "@xterm/addon-webgl";
import "@xterm/xterm/css/xterm.css";
import { drawPendingFrame, drawsAtOnce } from "./frames";
import { fontSize, gpuEnabled, hasGpu, isDark, setFontSizeSetting, type Renderer } from "./settings";

/** What a terminal tells its tab. */
export interface EngineHooks {
  /** Keys typed or text pasted (a string), or raw bytes (xterm's binary events). */
  input(data: string | Uint8Array): void;
  /** The grid changed size (after a fit or a font change). */
  resized(cols: number, rows: number): void;
  /** A web link was clicked. */
  openLink(url: string): void;
  /** Ctrl+Shift+F. */
  find(): void;
  /** WebGL or the DOM renderer now draws this terminal. */
  renderer(r: Renderer): void;
}

export interface SearchResults {
  index: number;
  count: number;
}

const MONO = '"JetBrains Mono", "Cascadia Mono", "DejaVu Sans Mono", "Liberation Mono", ui-monospace, Menlo, Consolas, monospace';

// Full 16-colour palettes: xterm's defaults are made for a dark background
// (its yellow and white vanish on white).
export const LIGHT: ITheme = {
  background: "#ffffff",
  foreground: "#27272a",
  cursor: "#4f46e5",
  cursorAccent: "#ffffff",
  selectionBackground: "#c7d2fe",
  selectionInactiveBackground: "#e4e4e7",
  scrollbarSliderBackground: "rgba(113, 113, 122, 0.25)",
  scrollbarSliderHoverBackground: "rgba(113, 113, 122, 0.4)",
  scrollbarSliderActiveBackground: "rgba(113, 113, 122, 0.5)",
  black: "#27272a",
  red: "#dc2626",
  green: "#15803d",
  yellow: "#a16207",
  blue: "#2563eb",
  magenta: "#c026d3",
  cyan: "#0e7490",
  white: "#71717a",
  brightBlack: "#52525b",
  brightRed: "#ef4444",
  brightGreen: "#16a34a",
  brightYellow: "#ca8a04",
  brightBlue: "#3b82f6",
  brightMagenta: "#d946ef",
  brightCyan: "#0891b2",
  brightWhite: "#a1a1aa",
};

export const DARK: ITheme = {
  background: "#09090b",
  foreground: "#e4e4e7",
  cursor: "#a5b4fc",
  cursorAccent: "#09090b",
  selectionBackground: "#3730a3",
  selectionInactiveBackground: "#3f3f46",
  scrollbarSliderBackground: "rgba(161, 161, 170, 0.2)",
  scrollbarSliderHoverBackground: "rgba(161, 161, 170, 0.35)",
  scrollbarSliderActiveBackground: "rgba(161, 161, 170, 0.45)",
  black: "#3f3f46",
  red: "#f87171",
  green: "#4ade80",
  yellow: "#facc15",
  blue: "#60a5fa",
  magenta: "#e879f9",
  cyan: "#22d3ee",
  white: "#d4d4d8",
  brightBlack: "#71717a",
  brightRed: "#fca5a5",
  brightGreen: "#86efac",
  brightYellow: "#fde047",
  brightBlue: "#93c5fd",
  brightMagenta: "#f0abfc",
  brightCyan: "#67e8f9",
  brightWhite: "#fafafa",
};

function searchOptions(dark: boolean, incremental: boolean): ISearchOptions {
  return {
    incremental,
    decorations: dark
      ? { matchBackground: "#3f3f46", matchBorder: "#71717a", matchOverviewRuler: "#a1a1aa", activeMatchBackground: "#a16207", activeMatchBorder: "#facc15", activeMatchColorOverviewRuler: "#facc15" }
      : { matchBackground: "#fef08a", matchBorder: "#eab308", matchOverviewRuler: "#eab308", activeMatchBackground: "#fb923c", activeMatchBorder: "#ea580c", activeMatchColorOverviewRuler: "#ea580c" },
  };
}

/** Every open terminal, for the window-wide settings. */
const engines = new Set<Engine>();

/** Changes the font size of every terminal (and of the ones opened later). */
export function zoom(step: 1 | -1 | 0) {
  const size = setFontSizeSetting(step === 0 ? null : fontSize() + step);
  for (const e of engines) e.setFontSize(size);
}

/** GPU rendering on or off for every terminal. */
export function applyGpu() {
  const on = gpuEnabled();
  for (const e of engines) e.setGpu(on);
}

async function readClipboard(): Promise<string> {
  try {
    return (await navigator.clipboard?.readText()) ?? "";
  } catch {
    return "";
  }
}

/** Hands a link to the system browser when it is an http(s) URL, and drops anything else. */
function openWebLink(uri: string, hooks: EngineHooks) {
  if (/^https?:\/\//i.test(uri)) hooks.openLink(uri);
}

export class Engine {
  readonly term: Terminal;
  private readonly fitter = new FitAddon();
  private readonly searcher = new SearchAddon();
  private webgl: WebglAddon | null = null;
  /** Output was parsed since the last frame (for the benchmark's probe). */
  private wrote = false;
  /** When a write was last drawn as soon as it was parsed (see `frames`). */
  private lastAtOnce = -Infinity;
  private readonly cleanups: (() => void)[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dark = isDark();
  private disposed = false;
  private lastQuery = "";

  constructor(
    /** The element xterm draws into; its size is the terminal's size. */
    readonly host: HTMLElement,
    private readonly hooks: EngineHooks,
  ) {
    const t = new Terminal({
      fontFamily: MONO,
      fontSize: fontSize(),
      lineHeight: 1.15,
      cursorBlink: true,
      cursorInactiveStyle: "outline",
      scrollback: 10_000,
      // The search addon's highlights are decorations.
      allowProposedApi: true,
      theme: this.dark ? DARK : LIGHT,
      minimumContrastRatio: this.dark ? 1 : 4.5,
      // OSC 8 hyperlinks (a program's own links) go through the same
      // http(s)-only opener as the plain links the addon finds; without
      // this, xterm would hand them to window.open.
      linkHandler: { activate: (_ev, uri) => openWebLink(uri, hooks), allowNonHttpProtocols: false },
    });
    this.term = t;
    t.loadAddon(this.fitter);
    t.loadAddon(this.searcher);
    t.loadAddon(new WebLinksAddon((_ev, uri) => openWebLink(uri, hooks)));
    t.open(host);
    this.setGpu(gpuEnabled());

    const subs = [
      // The key-to-glyph benchmark's probe (`cargo xtask bench desktop`):
      // when the page holds `window.__apposTermProbe`, the time of each frame
      // drawn after output arrived is pushed there, and the time output
      // reached the page to `__apposTermArrivals`. Nothing happens otherwise.
      t.onRender(() => {
        const probe = (window as { __apposTermProbe?: number[] }).__apposTermProbe;
        if (probe && this.wrote) probe.push(performance.now());
        this.wrote = false;
      }),
      t.onData((s) => hooks.input(s)),
      // Mouse reports in the X10 encoding: bytes above 0x7f, not UTF-8 text.
      t.onBinary((s) => hooks.input(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff))),
      t.onResize(({ cols, rows }) => hooks.resized(cols, rows)),
    ];
    this.cleanups.push(() => subs.forEach((s) => s.dispose()));

    t.attachCustomKeyEventHandler((ev) => this.key(ev));

    const onContextMenu = (ev: MouseEvent) => {
      // Right-click pastes, as in most terminals on Linux and Windows.
      ev.preventDefault();
      void readClipboard().then((text) => text && !this.disposed && t.paste(text));
    };
    host.addEventListener("contextmenu", onContextMenu);
    this.cleanups.push(() => host.removeEventListener("contextmenu", onContextMenu));

    if (typeof ResizeObserver !== "undefined") {
      const ro = new ResizeObserver(() => {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.fit(), 50);
      });
      ro.observe(host);
      this.cleanups.push(() => ro.disconnect());
    }
    const mo = new MutationObserver(() => this.setDark(isDark()));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
    this.cleanups.push(() => mo.disconnect());
    engines.add(this);
  }

  get cols() {
    return this.term.cols;
  }
  get rows() {
    return this.term.rows;
  }

  write(bytes: Uint8Array) {
    if (this.disposed) return;
    // The benchmark's probe also times when output reaches the page.
    const w = window as { __apposTermProbe?: number[]; __apposTermArrivals?: number[] };
    if (w.__apposTermProbe) (w.__apposTermArrivals ??= []).push(performance.now());
    this.term.write(bytes, () => {
      this.wrote = true;
      // An echo is drawn now, not at the next frame (see `frames`).
      const now = performance.now();
      const win = this.host.ownerDocument.defaultView;
      if (win && drawsAtOnce(bytes.length, now - this.lastAtOnce) && drawPendingFrame(this.term, win)) this.lastAtOnce = now;
    });
  }

  focus() {
    if (!this.disposed) this.term.focus();
  }

  /** Clears the screen and its scrollback (a reattached session's replay draws it again). */
  reset() {
    if (!this.disposed) this.term.reset();
  }

  /**
   * Fits the grid to the element; nothing while it has no size (a hidden
   * panel), so a hidden terminal never shrinks to nothing.
   */
  fit() {
    if (this.disposed) return;
    let d: { cols: number; rows: number } | undefined;
    try {
      d = this.fitter.proposeDimensions();
    } catch {
      return;
    }
    if (!d || !Number.isFinite(d.cols) || !Number.isFinite(d.rows) || d.cols < 2 || d.rows < 1) return;
    if (d.cols !== this.term.cols || d.rows !== this.term.rows) this.fitter.fit();
  }

  /** After the element moved back into the page (another server's view was shown). */
  shown() {
    if (this.disposed) return;
    this.fit();
    this.term.refresh(0, this.term.rows - 1);
  }

  setFontSize(size: number) {
    if (this.disposed || this.term.options.fontSize === size) return;
    this.term.options.fontSize = size;
    this.fit();
  }

  setDark(dark: boolean) {
    if (this.disposed || dark === this.dark) return;
    this.dark = dark;
    this.term.options.theme = dark ? DARK : LIGHT;
    this.term.options.minimumContrastRatio = dark ? 1 : 4.5;
    if (this.lastQuery) this.searcher.findNext(this.lastQuery, searchOptions(dark, true));
  }

  /** WebGL when asked for and the webview has it; xterm's DOM renderer otherwise. */
  setGpu(on: boolean) {
    if (this.disposed) return;
    if (!on) {
      if (this.webgl) {
        this.webgl.dispose();
        this.webgl = null;
      }
      this.hooks.renderer("dom");
      return;
    }
    if (this.webgl) return;
    if (!hasGpu()) {
      // No GPU behind WebGL: the DOM renderer draws as fast, for less memory.
      this.hooks.renderer("dom");
      return;
    }
    try {
      const gl = new WebglAddon();
      this.term.loadAddon(gl);
      this.webgl = gl;
      gl.onContextLoss(() => {
        // The GPU went away (a driver reset, a suspended laptop): draw with the DOM.
        gl.dispose();
        if (this.webgl === gl) this.webgl = null;
        this.hooks.renderer("dom");
      });
      this.hooks.renderer("webgl");
    } catch {
      // No WebGL2 here (WebKitGTK without a GPU, say): the DOM renderer draws.
      this.webgl = null;
      this.hooks.renderer("dom");
    }
  }

  find(query: string, backwards: boolean, incremental = false): boolean {
    this.lastQuery = query;
    if (!query) {
      this.searcher.clearDecorations();
      return false;
    }
    const o = searchOptions(this.dark, incremental);
    return backwards ? this.searcher.findPrevious(query, o) : this.searcher.findNext(query, o);
  }

  clearFind() {
    this.lastQuery = "";
    this.searcher.clearDecorations();
  }

  onSearchResults(fn: (r: SearchResults) => void): () => void {
    const d = this.searcher.onDidChangeResults((e) => fn({ index: e.resultIndex, count: e.resultCount }));
    return () => d.dispose();
  }

  copySelection() {
    const text = this.term.getSelection();
    if (!text) return;
    const fallback = () => {
      // The copy event, which xterm answers with its selection.
      this.term.focus();
      document.execCommand?.("copy");
    };
    if (navigator.clipboard?.writeText) void navigator.clipboard.writeText(text).catch(fallback);
    else fallback();
  }

  private paste() {
    // Where the webview itself pastes on Ctrl+Shift+V, xterm hears that
    // paste event; otherwise the clipboard is read here.
    let native = false;
    const seen = () => {
      native = true;
    };
    this.host.addEventListener("paste", seen, { capture: true, once: true });
    setTimeout(() => {
      this.host.removeEventListener("paste", seen, { capture: true });
      if (!native) void readClipboard().then((text) => text && !this.disposed && this.term.paste(text));
    }, 30);
  }

  private key(ev: KeyboardEvent): boolean {
    const mod = ev.ctrlKey || ev.metaKey;
    if (!mod || ev.altKey) return true;
    const down = ev.type === "keydown";
    if (ev.shiftKey && (ev.code === "KeyC" || ev.code === "KeyV" || ev.code === "KeyF")) {
      if (down) {
        if (ev.code === "KeyC") {
          ev.preventDefault();
          this.copySelection();
        } else if (ev.code === "KeyF") {
          ev.preventDefault();
          this.hooks.find();
        } else this.paste();
      }
      return false;
    }
    // Not Ctrl+_ (Ctrl+Shift+-): that is readline's undo.
    if (ev.key === "=" || ev.key === "+" || ev.key === "-" || (ev.key === "0" && !ev.shiftKey)) {
      if (down) {
        ev.preventDefault();
        zoom(ev.key === "0" ? 0 : ev.key === "-" ? -1 : 1);
      }
      return false;
    }
    return true;
  }

  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    engines.delete(this);
    clearTimeout(this.timer);
    for (const c of this.cleanups) c();
    this.term.dispose();
    this.webgl = null;
  }
}
