// Domains served by the server's reverse proxy: one list per connected
// server, shared by the Domains tab, the app pages and the tab bar's
// certificate badge, so a change made in one place shows in all of them.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { toUiError, type Backend } from "../api/backend";
import type { Connection, UiError } from "../api/desktop.gen";
import type { App, CertStatus, Domain, ProxyInfo } from "../api/types.gen";
import { useLatest } from "./hooks";

/** A Domains view on screen asks the agent this often, so a pending certificate turns valid. */
export const DOMAINS_POLL_MS = 10_000;
/** ...and otherwise this often, for the tab bar's badge. */
export const DOMAINS_BACKGROUND_MS = 30_000;

/** Whether the agent refused because it runs no reverse proxy (its problem code `no_proxy`). */
export function isNoProxy(e: UiError): boolean {
  return e.problem === "no_proxy";
}

/** The error standing for "no reverse proxy" when the agent's info says so, before any call refused. */
export const NO_PROXY_INFO: UiError = {
  code: "conflict",
  message: "This server's agent runs no reverse proxy: set APPOS_PROXY_HTTP and APPOS_PROXY_HTTPS and restart it.",
  host_key: null,
  fields: [],
  problem: "no_proxy",
};

/** Where the proxy listens, e.g. "caddy on 0.0.0.0:80 and 0.0.0.0:443". */
export function proxyListens(p: ProxyInfo): string {
  const at = [p.http, p.https].filter(Boolean);
  return at.length ? `${p.backend} on ${at.join(" and ")}` : p.backend;
}

/** The address a domain is served at. */
export function domainUrl(d: Pick<Domain, "domain" | "ssl">): string {
  return `${d.ssl ? "https" : "http"}://${d.domain}`;
}

/** A certificate someone should look at: expiring soon, or failed. */
export function certNeedsAttention(c: CertStatus): boolean {
  return c.state === "expiring" || c.state === "failed";
}

/** The certificates of a server's domains that need attention, counted once for every badge. */
export interface CertAlerts {
  failed: number;
  expiring: number;
  /** failed + expiring. */
  total: number;
}

export const NO_CERT_ALERTS: CertAlerts = { failed: 0, expiring: 0, total: 0 };

/** Counts the domains whose certificate is failed or expiring (none while not listed yet). */
export function certAlerts(list: Domain[] | null): CertAlerts {
  let failed = 0;
  let expiring = 0;
  for (const d of list ?? []) {
    if (!certNeedsAttention(d.certificate)) continue;
    if (d.certificate.state === "failed") failed++;
    else expiring++;
  }
  return failed + expiring ? { failed, expiring, total: failed + expiring } : NO_CERT_ALERTS;
}

export function sameCertAlerts(a: CertAlerts | undefined, b: CertAlerts): boolean {
  return !!a && a.failed === b.failed && a.expiring === b.expiring;
}

/** The container ports known for a service (TCP, as its containers declare them), ascending. */
export function servicePorts(app: App | undefined, service: string): number[] {
  const out = new Set<number>();
  for (const s of app?.services ?? [])
    if (s.name === service) for (const c of s.containers) for (const p of c.ports) if (p.protocol === "tcp" && p.private_port > 0) out.add(p.private_port);
  return [...out].sort((a, b) => a - b);
}

/** `APP/SERVICE:PORT`, as the agent takes a target. */
export function domainTarget(app: string, service: string, port: number | string): string {
  return `${app}/${service}:${port}`;
}

export interface DomainsStore {
  /** The domains, as last answered; null until the first answer. */
  list: Domain[] | null;
  /** Why the last listing failed (not for want of a proxy). */
  error: UiError | null;
  /** Set when the agent said it runs no reverse proxy (in its info, or refusing a call). */
  noProxy: UiError | null;
  /** The reverse proxy the connected agent runs, as its info said; null when none or not connected. */
  proxy: ProxyInfo | null;
  loading: boolean;
  /** Lists again; the current list stays meanwhile. */
  reload: () => Promise<void>;
  /** Lists again unless a listing started less than `ms` ago. */
  refresh: (ms: number) => Promise<void>;
  /** A list the agent answered otherwise (e.g. reload_proxy). */
  set: (list: Domain[]) => void;
  /** A domain the agent now serves (added). */
  put: (d: Domain) => void;
  /** A domain the agent no longer serves. */
  drop: (domain: string) => void;
  /**
   * Takes a failed call's error: a `no_proxy` refusal turns the Domains
   * views into their explanation. Returns whether it was one.
   */
  refused: (e: UiError) => boolean;
  /** The proxy answered: it runs after all. */
  proxyAnswered: () => void;
}

export const DomainsContext = createContext<DomainsStore | null>(null);

export function useDomains(): DomainsStore {
  const c = useContext(DomainsContext);
  if (!c) throw new Error("useDomains outside of a ServerView");
  return c;
}

function sameList(a: Domain[], b: Domain[]) {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

const byName = (a: Domain, b: Domain) => a.domain.localeCompare(b.domain);

/**
 * The domains of a server: listed once `connection` is set (and again for
 * each new connection), then every DOMAINS_BACKGROUND_MS while the window
 * is visible. Views on screen poll faster with `useDomainsPolling`. When the
 * connection's info says the agent runs no proxy, nothing is listed until a
 * call answers otherwise (`proxyAnswered`).
 */
export function useDomainsStore(backend: Backend, server: string, connection: Pick<Connection, "info"> | null): DomainsStore {
  const [list, setList] = useState<Domain[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [refusedNoProxy, setNoProxy] = useState<UiError | null>(null);
  const [loading, setLoading] = useState(false);
  const gen = useRef(0);
  const lastStart = useRef(0);
  const connected = !!connection;
  const proxy = connection?.info.proxy ?? null;
  // The connection for which a call answered that the proxy runs after all.
  const [answeredFor, setAnsweredFor] = useState<unknown>(null);
  // The info said there is no proxy, and no call has said otherwise since: nothing to list.
  const absent = !!connection && connection.info.proxy === null && answeredFor !== connection;
  const noProxy = refusedNoProxy ?? (absent ? NO_PROXY_INFO : null);

  const reload = useCallback(async () => {
    if (!connected || absent) return;
    const my = ++gen.current;
    lastStart.current = Date.now();
    setLoading(true);
    try {
      const l = [...(await backend.call(server, { call: "list_domains", args: {} }))].sort(byName);
      if (my !== gen.current) return;
      setList((prev) => (prev && sameList(prev, l) ? prev : l));
      setError(null);
    } catch (e) {
      if (my !== gen.current) return;
      const u = toUiError(e);
      if (isNoProxy(u)) {
        setNoProxy(u);
        setError(null);
      } else setError(u);
    } finally {
      if (my === gen.current) setLoading(false);
    }
  }, [backend, server, connected, absent]);

  const refresh = useCallback(async (ms: number) => {
    if (Date.now() - lastStart.current < ms) return;
    await reload();
  }, [reload]);

  // A change answered by the agent wins over a listing still under way.
  const settle = useCallback(() => {
    gen.current++;
    setLoading(false);
    setError(null);
  }, []);
  const set = useCallback((l: Domain[]) => {
    settle();
    setList([...l].sort(byName));
  }, [settle]);
  const put = useCallback((d: Domain) => {
    settle();
    setList((prev) => [...(prev ?? []).filter((x) => x.domain !== d.domain), d].sort(byName));
  }, [settle]);
  const drop = useCallback((domain: string) => {
    settle();
    setList((prev) => (prev ? prev.filter((x) => x.domain !== domain) : prev));
  }, [settle]);
  const refused = useCallback((e: UiError) => {
    if (!isNoProxy(e)) return false;
    setNoProxy(e);
    return true;
  }, []);
  const proxyAnswered = useCallback(() => {
    setAnsweredFor(connection);
    setNoProxy(null);
  }, [connection]);

  useEffect(() => {
    // A new connection may reach an agent started with other settings.
    setNoProxy(null);
    if (!connection) return;
    void reload();
    const t = setInterval(() => {
      if (!document.hidden) void refresh(DOMAINS_POLL_MS);
    }, DOMAINS_BACKGROUND_MS);
    return () => {
      gen.current++;
      clearInterval(t);
    };
  }, [connection, reload, refresh]);

  return useMemo(
    () => ({ list, error, noProxy, proxy, loading, reload, refresh, set, put, drop, refused, proxyAnswered }),
    [list, error, noProxy, proxy, loading, reload, refresh, set, put, drop, refused, proxyAnswered],
  );
}

/**
 * While mounted, lists the domains every DOMAINS_POLL_MS (when the window is
 * visible), at once when shown, and when the window comes back.
 */
export function useDomainsPolling() {
  const store = useDomains();
  const s = useLatest(store);
  useEffect(() => {
    void s.current.refresh(2000);
    const t = setInterval(() => {
      if (!document.hidden) void s.current.reload();
    }, DOMAINS_POLL_MS);
    const onVisible = () => {
      if (!document.hidden) void s.current.refresh(2000);
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(t);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [s]);
  return store;
}
