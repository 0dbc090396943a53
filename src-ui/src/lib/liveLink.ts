// A server's link as its event stream shows it. The server view and each
// server's alert watcher follow their stream with `useLiveLink`: it resumes
// after the last event seen when the stream breaks, waiting longer each time,
// and stops on errors that trying again cannot mend. Its LiveState is what the
// view's indicator and the sidebar's dot show.
import { useCallback, useEffect, useRef, useState } from "react";
import type { Backend } from "../api/backend";
import type { ErrorClass, StreamItem, UiError } from "../api/desktop.gen";
import type { Event } from "../api/types.gen";
import { useLatest, useStream } from "./hooks";

/** Reconnect delays of the event stream: doubling from the first to the last. */
export const RECONNECT_MS = [1000, 30_000] as const;
/** A stream that ran longer than this before it broke starts over with the first delay. */
const STEADY_MS = 10_000;

/** Errors the event stream cannot get past by trying again: it stops until the user retries. */
export const FINAL_STREAM_ERRORS: ReadonlySet<ErrorClass> = new Set<ErrorClass>(["host_key_unknown", "host_key_changed", "auth_rejected", "key_encrypted", "unauthorized", "forbidden"]);

export type LiveState =
  | { state: "off" | "connecting" | "live" }
  /** The next try is `delayMs` after `since` (ms since the epoch). */
  | { state: "retrying"; error: UiError | null; delayMs: number; since: number }
  /** Stopped on an error retrying cannot mend; the user retries. */
  | { state: "failed"; error: UiError };

/** A server's link as the sidebar's dot shows it. */
export type ServerStatus = "idle" | "connecting" | "connected" | "reconnecting" | "error";

/** What happens to a link: its stream (re)opens, opened, ended, or there is no connection to follow. */
export type LinkStep = { type: "start" | "open" | "stop" } | { type: "end"; error: UiError | null; waitMs: number; now: number };

/** A changed host key, a refused key or a revoked token: trying again changes nothing. */
export function isFinal(error: UiError | null): error is UiError {
  return !!error && FINAL_STREAM_ERRORS.has(error.code);
}

/**
 * The wait before the next try after a stream that ran `ranMs` broke, and
 * the one after: doubling from `delayMs`, short again after a stream that
 * ran a while (a link that is mostly up).
 */
export function nextDelay(delayMs: number, ranMs: number): { waitMs: number; nextMs: number } {
  const waitMs = ranMs > STEADY_MS ? RECONNECT_MS[0] : delayMs;
  return { waitMs, nextMs: Math.min(waitMs * 2, RECONNECT_MS[1]) };
}

/** The link after `step`: the same object when nothing changes, so nothing renders again. */
export function nextLive(l: LiveState, step: LinkStep): LiveState {
  switch (step.type) {
    case "start":
      return l.state === "connecting" ? l : { state: "connecting" };
    case "open":
      return l.state === "connecting" ? { state: "live" } : l;
    case "stop":
      return l.state === "off" ? l : { state: "off" };
    case "end":
      return isFinal(step.error) ? { state: "failed", error: step.error } : { state: "retrying", error: step.error, delayMs: step.waitMs, since: step.now };
  }
}

/** Whole seconds left until the next try at `now`, at least 1 (the try is due). */
export function retryInSeconds(l: { since: number; delayMs: number }, now: number): number {
  return Math.max(1, Math.ceil((l.since + l.delayMs - now) / 1000));
}

export function linkStatus(l: LiveState): ServerStatus {
  switch (l.state) {
    case "off":
      return "idle";
    case "connecting":
      return "connecting";
    case "live":
      return "connected";
    case "retrying":
      return "reconnecting";
    case "failed":
      return "error";
  }
}

/** The link in words at `now`, for the sidebar's dot. */
export function linkWords(l: LiveState, now: number): string {
  switch (l.state) {
    case "off":
      return "Not connected";
    case "connecting":
      return "Connecting…";
    case "live":
      return "Connected";
    case "retrying":
      return `Reconnecting in ${retryInSeconds(l, now)} s${l.error ? `: ${l.error.message}` : ""}`;
    case "failed":
      return `Disconnected: ${l.error.message}`;
  }
}

export interface LiveLink {
  live: LiveState;
  /** Opens the stream again at once, after the last event seen, with short delays again. */
  reconnect: () => void;
}

/**
 * Follows `server`'s event stream while `on`, handing each event to
 * `onEvent`. A broken stream opens again after a wait, after the last event
 * seen, and `onResume` runs then; a final error stops it until `reconnect`.
 */
export function useLiveLink(
  backend: Backend,
  server: string,
  { on = true, onEvent, onResume }: { on?: boolean; onEvent: (e: Event) => void; onResume?: () => void },
): LiveLink {
  const [live, setLive] = useState<LiveState>(on ? { state: "connecting" } : { state: "off" });
  const [stream, setStream] = useState({ after: -1, epoch: 0 });
  const lastId = useRef(-1);
  const delay = useRef<number>(RECONNECT_MS[0]);
  // When the current stream opened; null until it does.
  const openedAt = useRef<number | null>(null);
  const handle = useLatest(onEvent);
  const resumed = useLatest(onResume);

  useEffect(() => setLive((l) => nextLive(l, { type: on ? "start" : "stop" })), [on]);

  // The next try belongs to the retrying state: a reconnect, a lost connection or unmounting drops it.
  useEffect(() => {
    if (live.state !== "retrying") return;
    const t = setTimeout(() => {
      setStream((s) => ({ after: lastId.current, epoch: s.epoch + 1 }));
      setLive((l) => nextLive(l, { type: "start" }));
      resumed.current?.();
    }, live.since + live.delayMs - Date.now());
    return () => clearTimeout(t);
  }, [live, resumed]);

  const onItem = useCallback(
    (item: StreamItem) => {
      if (item.type === "event") {
        lastId.current = Math.max(lastId.current, item.event.id);
        delay.current = RECONNECT_MS[0];
        handle.current(item.event);
      } else if (item.type === "end") {
        // A stream that never opened ran for no time: a long-gone server is not tried every second.
        const now = Date.now();
        const { waitMs, nextMs } = nextDelay(delay.current, openedAt.current === null ? 0 : now - openedAt.current);
        delay.current = nextMs;
        openedAt.current = null;
        setLive((l) => nextLive(l, { type: "end", error: item.error, waitMs, now }));
      }
    },
    [handle],
  );
  const onOpen = useCallback(() => {
    openedAt.current = Date.now();
    setLive((l) => nextLive(l, { type: "open" }));
  }, []);
  useStream(backend, server, on ? { type: "events", after: stream.after } : null, onItem, stream.epoch, onOpen);

  const reconnect = useCallback(() => {
    delay.current = RECONNECT_MS[0];
    setStream((s) => ({ after: lastId.current, epoch: s.epoch + 1 }));
    setLive((l) => nextLive(l, { type: "start" }));
  }, []);
  return { live, reconnect };
}
