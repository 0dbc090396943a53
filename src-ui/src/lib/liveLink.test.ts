import { describe, expect, it } from "vitest";
import type { ErrorClass, UiError } from "../api/desktop.gen";
import { uiError } from "../test/fakeBackend";
import { isFinal, linkStatus, linkWords, nextDelay, nextLive, retryInSeconds, type LinkStep, type LiveState, type ServerStatus } from "./liveLink";

const NOW = 1_700_000_000_000;
const dropped = uiError("unreachable", "the SSH connection dropped");
const changed = uiError("host_key_changed", "the host key of prod changed: it may be an attack");

describe("errors that stop a live link", () => {
  const table: [ErrorClass, boolean][] = [
    ["host_key_unknown", true],
    ["host_key_changed", true],
    ["auth_rejected", true],
    ["key_encrypted", true],
    ["unauthorized", true],
    ["forbidden", true],
    ["unreachable", false],
    ["agent_missing", false],
    ["docker_unavailable", false],
    ["invalid_input", false],
    ["not_found", false],
    ["conflict", false],
    ["other", false],
  ];
  it.each(table)("%s is final: %s", (code, final) => {
    expect(isFinal(uiError(code, "x"))).toBe(final);
  });

  it("a stream that ended without an error is not", () => {
    expect(isFinal(null)).toBe(false);
  });
});

describe("the wait before the next try", () => {
  // [delay, how long the stream ran, wait, delay after]
  const table: [number, number, number, number][] = [
    [1000, 0, 1000, 2000],
    [2000, 500, 2000, 4000],
    [16_000, 9000, 16_000, 30_000],
    // Never longer than the last.
    [30_000, 0, 30_000, 30_000],
    // A stream that ran a while starts over.
    [30_000, 10_000, 30_000, 30_000],
    [30_000, 10_001, 1000, 2000],
    [8000, 3_600_000, 1000, 2000],
  ];
  it.each(table)("after %i ms, a stream that ran %i ms waits %i ms, then %i ms", (delayMs, ranMs, waitMs, nextMs) => {
    expect(nextDelay(delayMs, ranMs)).toEqual({ waitMs, nextMs });
  });
});

describe("a live link's steps", () => {
  const off: LiveState = { state: "off" };
  const connecting: LiveState = { state: "connecting" };
  const live: LiveState = { state: "live" };
  const retrying: LiveState = { state: "retrying", error: dropped, delayMs: 2000, since: NOW - 500 };
  const failed: LiveState = { state: "failed", error: changed };
  const end = (error: UiError | null, waitMs = 1000): LinkStep => ({ type: "end", error, waitMs, now: NOW });
  const table: [string, LiveState, LinkStep, LiveState][] = [
    ["a connection starts it", off, { type: "start" }, connecting],
    ["a retry starts it again", retrying, { type: "start" }, connecting],
    ["the user's retry starts it again", failed, { type: "start" }, connecting],
    ["a new agent starts it again", live, { type: "start" }, connecting],
    ["its stream opening makes it live", connecting, { type: "open" }, live],
    ["a stream opening late changes nothing", retrying, { type: "open" }, retrying],
    ["a broken stream waits", live, end(dropped, 4000), { state: "retrying", error: dropped, delayMs: 4000, since: NOW }],
    ["a stream that ended quietly waits too", live, end(null), { state: "retrying", error: null, delayMs: 1000, since: NOW }],
    ["a stream that could not open waits", connecting, end(dropped), { state: "retrying", error: dropped, delayMs: 1000, since: NOW }],
    ["a final error stops it", live, end(changed), failed],
    ["so does one on opening", connecting, end(changed), failed],
    ["no connection stops it", live, { type: "stop" }, off],
    ["no connection stops the retries", retrying, { type: "stop" }, off],
  ];
  it.each(table)("%s", (_, from, step, to) => {
    expect(nextLive(from, step)).toEqual(to);
  });

  it.each([
    ["starting", connecting, { type: "start" }],
    ["stopping", off, { type: "stop" }],
    ["opening", live, { type: "open" }],
  ] as [string, LiveState, LinkStep][])("keeps the same state when %s changes nothing (no render)", (_, l, step) => {
    expect(nextLive(l, step)).toBe(l);
  });
});

describe("a live link in words", () => {
  const retrying = (error: UiError | null, leftMs: number): LiveState => ({ state: "retrying", error, delayMs: 4000, since: NOW + leftMs - 4000 });
  const table: [ServerStatus, string, LiveState][] = [
    ["idle", "Not connected", { state: "off" }],
    ["connecting", "Connecting…", { state: "connecting" }],
    ["connected", "Connected", { state: "live" }],
    // Whole seconds, rounded up.
    ["reconnecting", "Reconnecting in 4 s: the SSH connection dropped", retrying(dropped, 3001)],
    ["reconnecting", "Reconnecting in 3 s", retrying(null, 3000)],
    // The try is due.
    ["reconnecting", "Reconnecting in 1 s: the SSH connection dropped", retrying(dropped, -200)],
    ["error", "Disconnected: the host key of prod changed: it may be an attack", { state: "failed", error: changed }],
  ];
  it.each(table)("%s: %s", (status, words, l) => {
    expect(linkStatus(l)).toBe(status);
    expect(linkWords(l, NOW)).toBe(words);
  });

  it.each([
    [1000, 1],
    [1001, 2],
    [30_000, 30],
    [0, 1],
    [-5000, 1],
  ])("%i ms before the next try is %i s", (leftMs, s) => {
    expect(retryInSeconds({ since: NOW, delayMs: leftMs }, NOW)).toBe(s);
  });
});
