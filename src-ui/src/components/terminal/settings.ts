// Terminal settings shared by every tab of the window, kept in localStorage.

export type Renderer = "webgl" | "dom";

const FONT_KEY = "appos.terminal.fontSize";
const GPU_KEY = "appos.terminal.gpu";
const HEIGHT_KEY = "appos.terminal.height";
export const DEFAULT_FONT_SIZE = 13;
export const MIN_FONT_SIZE = 8;
export const MAX_FONT_SIZE = 32;

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private mode or full: the setting lasts until the window closes.
  }
}

export function fontSize(): number {
  const n = Number(read(FONT_KEY));
  return Number.isInteger(n) && n >= MIN_FONT_SIZE && n <= MAX_FONT_SIZE ? n : DEFAULT_FONT_SIZE;
}

/** Stores a font size (`null`: the default) and returns the one in force. */
export function setFontSizeSetting(size: number | null): number {
  const n = size === null ? DEFAULT_FONT_SIZE : Math.min(Math.max(Math.round(size), MIN_FONT_SIZE), MAX_FONT_SIZE);
  write(FONT_KEY, String(n));
  return n;
}

let gpu: boolean | undefined;
let asking: Promise<boolean> | null = null;

/**
 * Whether the desktop found a GPU for the window, asked once per window.
 * Without one, WebGL is a software rasteriser: it draws on the CPU as the
 * DOM renderer does, but keeps a GL context and a glyph atlas besides (about
 * 50 MB more in the web process, measured by `cargo xtask bench desktop`).
 * The page cannot tell by itself: WebKitGTK masks the renderer's name. When
 * the desktop cannot answer, WebGL is tried as before.
 */
export function askGpu(backend: { hasGpu(): Promise<boolean> }): Promise<boolean> {
  asking ??= backend.hasGpu().then(
    (has) => (gpu = has),
    () => (gpu = true),
  );
  return asking;
}

/** The answer of `askGpu`; true until it came. */
export function hasGpu(): boolean {
  return gpu !== false;
}

/** Asks the desktop again (tests). */
export function forgetGpu() {
  gpu = undefined;
  asking = null;
}

/** WebGL rendering (the default); off, xterm draws with the DOM. */
export function gpuEnabled(): boolean {
  return read(GPU_KEY) !== "0";
}

export function setGpuEnabled(on: boolean) {
  write(GPU_KEY, on ? "1" : "0");
}

export function panelHeight(): number {
  const n = Number(read(HEIGHT_KEY));
  return n >= 120 && n <= 4000 ? n : 360;
}

export function setPanelHeight(h: number) {
  write(HEIGHT_KEY, String(Math.round(h)));
}

export function isDark(): boolean {
  return document.documentElement.classList.contains("dark");
}
