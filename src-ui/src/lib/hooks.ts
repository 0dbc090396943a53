// Small hooks shared by the views: latest-value refs, debouncing, loading
// with stale-answer protection, and backend streams tied to a component's life.
import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";
import { toUiError, type Backend } from "../api/backend";
import type { StreamItem, StreamRequest, UiError } from "../api/desktop.gen";

export function useLatest<T>(value: T) {
  const r = useRef(value);
  r.current = value;
  return r;
}

/**
 * A debounced call of the latest `fn`; pending calls are dropped on unmount.
 * With `maxWaitMs`, a steady stream of calls still runs `fn` that often.
 */
export function useDebounced<A extends unknown[]>(fn: (...args: A) => void, ms: number, maxWaitMs?: number) {
  const f = useLatest(fn);
  const t = useRef<ReturnType<typeof setTimeout> | null>(null);
  const first = useRef(0);
  useEffect(
    () => () => {
      if (t.current) clearTimeout(t.current);
    },
    [],
  );
  return useCallback(
    (...args: A) => {
      const now = Date.now();
      if (t.current) clearTimeout(t.current);
      else first.current = now;
      const wait = maxWaitMs === undefined ? ms : Math.max(0, Math.min(ms, first.current + maxWaitMs - now));
      t.current = setTimeout(() => {
        t.current = null;
        f.current(...args);
      }, wait);
    },
    [f, ms, maxWaitMs],
  );
}

/** A value that follows `value` after it has stayed the same for `ms`. */
export function useDebouncedValue<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    if (Object.is(v, value)) return;
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms, v]);
  return v;
}

export interface Loaded<T> {
  data: T | null;
  error: UiError | null;
  loading: boolean;
  /** Loads again; the current data stays on screen meanwhile. */
  reload: () => Promise<void>;
  setData: (d: T) => void;
}

/** Loads `fn()` when deps change; answers of superseded loads are ignored. */
export function useLoad<T>(fn: () => Promise<T>, deps: DependencyList): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [loading, setLoading] = useState(true);
  const gen = useRef(0);
  const f = useLatest(fn);
  const reload = useCallback(async () => {
    const my = ++gen.current;
    setLoading(true);
    try {
      const d = await f.current();
      if (my !== gen.current) return;
      setData(d);
      setError(null);
    } catch (e) {
      if (my !== gen.current) return;
      setError(toUiError(e));
    } finally {
      if (my === gen.current) setLoading(false);
    }
  }, [f]);
  useEffect(() => {
    setData(null);
    setError(null);
    void reload();
    return () => {
      gen.current++;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error, loading, reload, setData };
}

/**
 * Keeps a backend stream open while `req` is set; a new `req` (by value) or
 * `epoch` closes the old stream and opens a new one. A failure to open is
 * delivered as an `end` item with the error, like a stream that broke.
 */
export function useStream(
  backend: Backend,
  server: string,
  req: StreamRequest | null,
  onItem: (item: StreamItem) => void,
  epoch = 0,
  onOpen?: () => void,
) {
  const cb = useLatest(onItem);
  const opened = useLatest(onOpen);
  const key = req ? JSON.stringify(req) : null;
  useEffect(() => {
    if (!key) return;
    let active = true;
    let handle: { close(): void } | null = null;
    backend
      .openStream(server, JSON.parse(key) as StreamRequest, (item) => {
        if (active) cb.current(item);
      })
      .then(
        (h) => {
          if (active) {
            handle = h;
            opened.current?.();
          } else h.close();
        },
        (e) => {
          if (active) cb.current({ type: "end", error: toUiError(e) });
        },
      );
    return () => {
      active = false;
      handle?.close();
    };
  }, [backend, server, key, epoch, cb, opened]);
}

/** Re-renders every `ms` while `on`, for clocks and elapsed times. */
export function useTick(on: boolean, ms = 1000) {
  const [, setN] = useState(0);
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setN((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [on, ms]);
}

/**
 * A scrolling log box that stays at the bottom while the reader is there:
 * scrolled up, it stays put. Returns the box's ref and its onScroll handler;
 * `deps` are what grows the content, `enabled` turns following off.
 */
export function useStickToBottom(deps: DependencyList, enabled = true) {
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  useEffect(() => {
    const el = box.current;
    if (el && enabled && atBottom.current) el.scrollTop = el.scrollHeight;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, enabled]);
  const onScroll = useCallback((e: { currentTarget: HTMLElement }) => {
    const el = e.currentTarget;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }, []);
  return { box, onScroll };
}
