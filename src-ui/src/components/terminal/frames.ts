// When a terminal draws what it was just sent.
//
// xterm.js draws in the next animation frame, and WebKit's animation frames
// come on a fixed 60 Hz grid: a key's echo that lands just after a frame
// waits up to 16.7 ms for the next one. Without compositing (WebKit's mode on
// machines with no GPU), a change made outside a frame is painted at once.
// Measured with xterm.js 6 in WebKitGTK 2.50 under Xvfb, from a one-byte
// write to the window's draw (a GTK draw hook): 6.1 ms p50, 6.7 ms p95 drawn
// at once, against 14 and 22 ms through the frame. With compositing, both
// wait for the compositor's frame (22 and 19 ms p50): no gain, no harm.
// So a small write (an echo, a prompt) is drawn as soon as it is parsed;
// bursts of output keep drawing once a frame.
import type { Terminal } from "@xterm/xterm";

/** At most this many bytes is an echo or a prompt, not a burst of output. */
export const SMALL_WRITE = 256;
/**
 * At most one write is drawn at once in this time: a frame at 240 Hz, as no
 * display shows more, so a stream of small writes cannot draw without end
 * (typing is far slower: a key every 50 ms or more).
 */
export const AT_ONCE_EVERY_MS = 1000 / 240;

/**
 * Whether a write of `bytes` is drawn as soon as it is parsed, given the
 * time since the last write drawn that way.
 */
export function drawsAtOnce(bytes: number, msSinceLastAtOnce: number): boolean {
  return bytes <= SMALL_WRITE && msSinceLastAtOnce >= AT_ONCE_EVERY_MS;
}

/** xterm's frame debouncer (private in @xterm/xterm 6: `RenderDebouncer`). */
interface Debouncer {
  _animationFrame?: number;
  _innerRefresh(): void;
}

/** The terminal's frame debouncer, or null when this xterm has none by that name. */
export function debouncerOf(term: Terminal): Debouncer | null {
  const core = (term as unknown as { _core?: { _renderService?: { _renderDebouncer?: Partial<Debouncer> } } })._core;
  const d = core?._renderService?._renderDebouncer;
  return d && typeof d._innerRefresh === "function" ? (d as Debouncer) : null;
}

/**
 * Draws the rows waiting for the next frame now, in place of that frame.
 * False when nothing was waiting (or this xterm has no such debouncer).
 */
export function drawPendingFrame(term: Terminal, win: Window): boolean {
  const d = debouncerOf(term);
  if (d?._animationFrame === undefined) return false;
  win.cancelAnimationFrame(d._animationFrame);
  d._innerRefresh();
  return true;
}
