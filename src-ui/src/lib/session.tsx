// What the UI remembers while the app runs: the open view of each server,
// unsaved drafts, form values and filters. Lives in <App>, so switching
// servers or tabs loses nothing; a restart starts fresh (no secrets on disk).
import { createContext, useCallback, useContext, useRef, useState, type ReactNode, type SetStateAction } from "react";

export interface Session {
  store: Map<string, unknown>;
  /**
   * What was already notified: `server/deployment-id` per deployment,
   * `server/certificate/subject/level/not_after` per certificate alert,
   * `server/alert/id/notice/notices` per alert notice.
   */
  notified: Set<string>;
  /** When this session began (ms since the epoch). */
  startedMs: number;
}

/** Events older than this before the session began are history, not news. */
export const NOTIFY_GRACE_MS = 60_000;

/** Whether an event at `atMs` is news to notify in this session. */
export function isNews(session: Session, atMs: number): boolean {
  return atMs >= session.startedMs - NOTIFY_GRACE_MS;
}

export function newSession(): Session {
  return { store: new Map(), notified: new Set(), startedMs: Date.now() };
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ session, children }: { session: Session; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

/** The surrounding session, or a private one for a component rendered alone. */
export function useSession(): Session {
  const outer = useContext(SessionContext);
  const own = useRef<Session | null>(null);
  if (outer) return outer;
  own.current ??= newSession();
  return own.current;
}

/** Like useState, but the value survives the component being unmounted. */
export function useSessionState<T>(key: string, init: T | (() => T)): [T, (next: SetStateAction<T>) => void] {
  const s = useSession();
  const [value, setValue] = useState<T>(() => {
    if (s.store.has(key)) return s.store.get(key) as T;
    const v = typeof init === "function" ? (init as () => T)() : init;
    s.store.set(key, v);
    return v;
  });
  // The store is the source of truth, updated at once: a value set just
  // before the component unmounts is kept too.
  const set = useCallback(
    (next: SetStateAction<T>) => {
      const prev = s.store.get(key) as T;
      const v = typeof next === "function" ? (next as (p: T) => T)(prev) : next;
      s.store.set(key, v);
      setValue(v);
    },
    [s, key],
  );
  return [value, set];
}
