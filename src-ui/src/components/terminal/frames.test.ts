import { afterEach, describe, expect, it } from "vitest";
import { Terminal } from "@xterm/xterm";
import { AT_ONCE_EVERY_MS, debouncerOf, drawPendingFrame, drawsAtOnce, SMALL_WRITE } from "./frames";

describe("drawsAtOnce", () => {
  it.each([
    ["an echo after a pause", 1, 1000, true],
    ["a prompt after a pause", SMALL_WRITE, 1000, true],
    ["a small write the least time after the last", 10, AT_ONCE_EVERY_MS, true],
    ["a small write sooner after the last", 10, AT_ONCE_EVERY_MS - 0.1, false],
    ["a small write just after the last", 10, 0, false],
    ["a burst chunk after a pause", SMALL_WRITE + 1, 1000, false],
    ["a large chunk", 65536, 1000, false],
    ["nothing drawn at once yet", 1, Infinity, true],
  ])("%s", (_what, bytes, since, expected) => {
    expect(drawsAtOnce(bytes, since)).toBe(expected);
  });
});

describe("xterm's frame debouncer", () => {
  const hosts: HTMLElement[] = [];
  // jsdom has no media queries; xterm asks one for the pixel ratio.
  window.matchMedia ??= (() => ({ matches: false, addListener() {}, removeListener() {}, addEventListener() {}, removeEventListener() {} })) as unknown as typeof window.matchMedia;
  afterEach(() => hosts.splice(0).forEach((h) => h.remove()));

  function opened(): Terminal {
    const host = document.createElement("div");
    document.body.append(host);
    hosts.push(host);
    const t = new Terminal();
    t.open(host);
    return t;
  }

  // The engine draws an echo through xterm's private debouncer: an xterm that
  // renames it must fail here, not quietly draw a frame later.
  it("is where the engine looks for it", () => {
    const t = opened();
    expect(debouncerOf(t)).not.toBeNull();
    t.dispose();
  });

  it("draws the waiting rows now, once", () => {
    const t = opened();
    const frames: number[] = [];
    const win = { cancelAnimationFrame: (id: number) => frames.push(id) } as unknown as Window;
    let drawn = 0;
    t.onRender(() => drawn++);
    const d = debouncerOf(t)!;
    t.refresh(0, 0);
    const pending = d._animationFrame;
    expect(pending).toBeDefined();
    expect(drawn).toBe(0);
    expect(drawPendingFrame(t, win)).toBe(true);
    expect(frames).toEqual([pending]);
    expect(d._animationFrame).toBeUndefined();
    // Nothing is waiting any more.
    expect(drawPendingFrame(t, win)).toBe(false);
    expect(frames).toHaveLength(1);
    expect(drawn).toBe(1);
    t.dispose();
  });

  it("is not there in a stand-in", () => {
    const fake = { write() {} } as unknown as Terminal;
    expect(debouncerOf(fake)).toBeNull();
    expect(drawPendingFrame(fake, window)).toBe(false);
  });
});
