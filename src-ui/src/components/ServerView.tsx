// The connected server: who answers, a tab bar (Apps, Catalog, Deployments, Domains, Alerts, Backups, Settings)
// and the view picked there. Owns the server's live event stream: the apps
// list, app pages and deployment views follow it, and deployments that end
// and certificates about to expire are notified from it (alerts are not:
// AlertWatch notifies them for every connected server).
import { lazy, Suspense, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { AlertTriangle, Archive, ArrowLeft, Bell, Boxes, Globe, LayoutGrid, RefreshCw, Rocket, Settings, Trash2 } from "lucide-react";
import type { Backend } from "../api/backend";
import { toUiError } from "../api/backend";
import type { Connection, UiError } from "../api/desktop.gen";
import type { App, Event } from "../api/types.gen";
import { useFiringAlerts } from "../lib/alerts";
import { certAlerts, DomainsContext, useDomainsStore, type CertAlerts } from "../lib/domains";
import { errorHint, errorTitle } from "../lib/errors";
import { useDebounced, useLatest, useTick } from "../lib/hooks";
import { retryInSeconds, useLiveLink, type LiveState } from "../lib/liveLink";
import {
  deploymentNotice,
  sectionOf,
  ServerContext,
  type DeploymentNoticeInput,
  type Nav,
  type Route,
  type Section,
  type ServerCtx,
} from "../lib/server";
import { isNews, SessionProvider, useSession, useSessionState } from "../lib/session";
import { AppsList } from "./AppsList";
import { AlertsTabLabel, DomainsTabLabel } from "./TabLabels";

// The apps list is what opens; every other view is loaded when first
// shown, so starting parses and keeps less script.
const AlertsView = lazy(() => import("./Alerts").then((m) => ({ default: m.AlertsView })));
const AppDetail = lazy(() => import("./AppDetail").then((m) => ({ default: m.AppDetail })));
const BackupsView = lazy(() => import("./Backups").then((m) => ({ default: m.BackupsView })));
const CatalogBrowser = lazy(() => import("./Catalog").then((m) => ({ default: m.CatalogBrowser })));
const TemplatePage = lazy(() => import("./Catalog").then((m) => ({ default: m.TemplatePage })));
const DeploymentView = lazy(() => import("./DeploymentView").then((m) => ({ default: m.DeploymentView })));
const DeploymentsList = lazy(() => import("./DeploymentsList").then((m) => ({ default: m.DeploymentsList })));
const DomainsView = lazy(() => import("./Domains").then((m) => ({ default: m.DomainsView })));
const ServerSettings = lazy(() => import("./ServerSettings").then((m) => ({ default: m.ServerSettings })));
import { closeTerminals } from "./terminal/manager";
import { TerminalArea } from "./Terminals";
import { Badge, Button, cx, LoadingBlock, Tabs } from "./ui";

/** The apps list refreshes this long after the last container or deployment event. */
export const EVENT_REFRESH_MS = 300;
/** ...and this often anyway, in case an event was lost. */
export const FALLBACK_REFRESH_MS = 30_000;

interface NavState {
  route: Route;
  stack: Route[];
  /** The last view of each section, to come back to it from the tab bar. */
  last: Partial<Record<Section, Route>>;
}

export function ServerView(props: {
  backend: Backend;
  server: string;
  local: boolean;
  /** The server's link each time it changes: its connection, then its event stream (for the sidebar). */
  onLink?: (l: LiveState) => void;
  /** The server's certificates needing attention, each time the domains list changes (for the sidebar). */
  onCerts?: (a: CertAlerts) => void;
  onRemove: () => void;
}) {
  const session = useSession();
  return (
    <SessionProvider session={session}>
      <ServerViewInner {...props} />
    </SessionProvider>
  );
}

function ServerViewInner({
  backend,
  server,
  local,
  onLink,
  onCerts,
  onRemove,
}: {
  backend: Backend;
  server: string;
  local: boolean;
  onLink?: (l: LiveState) => void;
  onCerts?: (a: CertAlerts) => void;
  onRemove: () => void;
}) {
  const session = useSession();
  const [conn, setConn] = useState<Connection | null>(null);
  const [apps, setApps] = useState<App[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [connError, setConnError] = useState<UiError | null>(null);
  const [refreshing, setRefreshing] = useState(false);
  const gen = useRef(0);

  const load = useCallback(
    async (first: boolean) => {
      const my = ++gen.current;
      if (first) {
        setConn(null);
        setApps(null);
        setError(null);
        setConnError(null);
      }
      setRefreshing(true);
      // The list does not wait for the agent's versions: both are asked at
      // once, and each shows when it comes.
      const listed = backend.call(server, { call: "list_apps", args: {} }).then(
        (a) => {
          if (first) performance.mark("appos:apps");
          if (my !== gen.current) return;
          setApps(a);
          setError(null);
        },
        (e: unknown) => {
          if (my === gen.current) setError(toUiError(e));
        },
      );
      if (first) {
        try {
          const c = await backend.connect(server);
          performance.mark("appos:connected");
          if (my === gen.current) setConn(c);
        } catch (e) {
          if (my === gen.current) {
            const err = toUiError(e);
            setConnError(err);
            setError(err);
          }
        }
      }
      await listed;
      if (my === gen.current) setRefreshing(false);
    },
    [backend, server],
  );

  useEffect(() => {
    void load(true);
    const t = setInterval(() => {
      if (!document.hidden) void load(false);
    }, FALLBACK_REFRESH_MS);
    return () => {
      gen.current++;
      clearInterval(t);
    };
  }, [load]);

  // A crash-looping container sends events without pause: refresh at least every 2 s then.
  const refreshSoon = useDebounced(() => void load(false), EVENT_REFRESH_MS, 2000);

  // Notifications: once per deployment, whoever sees its end first.
  const deploymentEnded = useCallback(
    (d: DeploymentNoticeInput) => {
      const key = `${server}/${d.id}`;
      if (session.notified.has(key)) return;
      const n = deploymentNotice(server, d);
      if (!n) return;
      session.notified.add(key);
      void backend.notify(n.title, n.body).catch(() => undefined);
    },
    [backend, server, session],
  );

  // The proxy's domains: the Domains tab, app pages, the tab bar's and the sidebar's certificate badges.
  const domains = useDomainsStore(backend, server, conn);
  const certs = useMemo(() => certAlerts(domains.list), [domains.list]);
  const reportCerts = useLatest(onCerts);
  // Not before the first answer: the sidebar keeps what it knew from the last visit meanwhile.
  const certsKnown = domains.list !== null || domains.noProxy !== null;
  useEffect(() => {
    if (certsKnown) reportCerts.current?.(certs);
  }, [certs, certsKnown, reportCerts]);
  const refreshDomains = useLatest(domains.refresh);

  // A certificate alert (AlertWatch notifies it): the badges follow at once
  // rather than at the next background listing.
  const certificateAlerted = useCallback(
    (data: unknown) => {
      const d = data && typeof data === "object" ? (data as { alert?: { rule?: unknown } }) : {};
      if (d.alert?.rule === "certificate_expiring") void refreshDomains.current(2000);
    },
    [refreshDomains],
  );

  // The views following the event stream.
  const subscribers = useRef(new Set<(e: Event) => void>());
  const subscribe = useCallback((fn: (e: Event) => void) => {
    subscribers.current.add(fn);
    return () => {
      subscribers.current.delete(fn);
    };
  }, []);
  // The tab bar's count of firing alerts.
  const firing = useFiringAlerts(backend, server, conn, subscribe);
  const onEvent = useCallback(
    (e: Event) => {
      if (e.kind === "container" || e.kind === "deployment") refreshSoon();
      if (e.kind === "deployment" && isNews(session, e.at_ms)) {
        const d = e.data as Record<string, unknown>;
        if (typeof d.deployment === "string" && typeof d.state === "string")
          deploymentEnded({
            id: d.deployment,
            app: e.app ?? "?",
            operation: typeof d.operation === "string" ? d.operation : "deploy",
            state: d.state,
            version: typeof d.version === "number" ? d.version : null,
            error: typeof d.error === "string" ? d.error : null,
          });
      }
      if (e.kind === "alert" && isNews(session, e.at_ms)) certificateAlerted(e.data);
      for (const fn of subscribers.current) fn(e);
    },
    [deploymentEnded, certificateAlerted, refreshSoon, session],
  );
  // After a break, whatever happened meanwhile: the replay covers events, a refresh covers the rest.
  const { live, reconnect } = useLiveLink(backend, server, { on: !!conn, onEvent, onResume: refreshSoon });

  // The user's Retry after the stream stopped: at once, and with short delays again.
  const retryNow = useCallback(() => {
    reconnect();
    refreshSoon();
  }, [reconnect, refreshSoon]);

  // A new agent answers (after an upgrade): its connection, and its event stream from the last event seen.
  const connectionChanged = useCallback(
    (c: Connection) => {
      setConn(c);
      reconnect();
    },
    [reconnect],
  );

  // The sidebar's dot: a connection that failed, one under way, else the event stream;
  // in the same paint as the view, so the two never disagree.
  const link = useMemo<LiveState>(() => (connError ? { state: "failed", error: connError } : live.state === "off" ? { state: "connecting" } : live), [connError, live]);
  const reportLink = useLatest(onLink);
  useLayoutEffect(() => reportLink.current?.(link), [link, reportLink]);

  // Navigation, remembered per server for the whole session.
  const [navState, setNavState] = useSessionState<NavState>(`nav:${server}`, { route: { view: "apps" }, stack: [], last: {} });
  const nav: Nav = useMemo(() => {
    const to = (r: Route, push: boolean) =>
      setNavState((s) => ({
        route: r,
        stack: push ? [...s.stack, s.route].slice(-50) : s.stack,
        last: { ...s.last, [sectionOf(r)]: r },
      }));
    return {
      route: navState.route,
      canBack: navState.stack.length > 0,
      go: (r) => to(r, true),
      replace: (r) => to(r, false),
      back: () =>
        setNavState((s) => {
          const prev = s.stack[s.stack.length - 1];
          if (!prev) return s;
          return { route: prev, stack: s.stack.slice(0, -1), last: { ...s.last, [sectionOf(prev)]: prev } };
        }),
    };
  }, [navState, setNavState]);

  const ctx: ServerCtx = useMemo(() => ({ backend, server, nav, subscribe, deploymentEnded }), [backend, server, nav, subscribe, deploymentEnded]);

  const route = navState.route;
  const section = sectionOf(route);
  const openSection = (s: Section) => {
    if (s === section) {
      if (route.view !== s) nav.go({ view: s } as Route);
      return;
    }
    nav.go(navState.last[s] ?? ({ view: s } as Route));
  };

  const title = local ? "This computer" : server;
  return (
    <ServerContext.Provider value={ctx}>
      <DomainsContext.Provider value={domains}>
      <section className="flex min-w-0 flex-1 flex-col">
        <header className="flex h-14 shrink-0 items-center gap-3 border-b border-zinc-200 px-6 dark:border-zinc-800">
          <div className="min-w-0 flex-1">
            <h1 className="truncate text-[15px] font-semibold" data-testid="server-title">
              {title}
            </h1>
            <p className="truncate text-xs text-zinc-500" data-testid="server-via">
              {conn ? conn.via : connError ? "not connected" : "connecting…"}
            </p>
          </div>
          {conn && (
            <div className="hidden items-center gap-1.5 md:flex">
              <Badge tone="indigo">agent {conn.info.agent_version}</Badge>
              <Badge>Docker {conn.info.docker.version}</Badge>
              <Badge>{conn.info.compose.command.join(" ") || "no compose"}</Badge>
            </div>
          )}
          <Button size="sm" variant="ghost" onClick={() => void load(!conn)} aria-label="Refresh" data-testid="refresh">
            <RefreshCw className={`size-4 ${refreshing ? "animate-spin" : ""}`} />
          </Button>
          {!local && (
            <Button
              size="sm"
              variant="ghost"
              onClick={() => {
                // Its terminals go with it.
                closeTerminals(session, server);
                onRemove();
              }}
              aria-label="Remove server"
              data-testid="remove-server"
            >
              <Trash2 className="size-4" />
            </Button>
          )}
        </header>
        <div className="flex shrink-0 items-end gap-3 border-b border-zinc-200 px-6 pt-2 dark:border-zinc-800">
          <Tabs<Section>
            label="Server sections"
            // Seven sections: on a narrow window the bar scrolls rather than hiding the last ones.
            className="min-w-0 flex-1 overflow-x-auto overflow-y-hidden [scrollbar-width:none]"
            underline={false}
            active={section}
            onSelect={openSection}
            items={[
              { key: "apps", label: "Apps", icon: <Boxes className="size-4" />, testId: "nav-apps", count: apps?.length ?? null },
              { key: "catalog", label: "Catalog", icon: <LayoutGrid className="size-4" />, testId: "nav-catalog" },
              { key: "deployments", label: "Deployments", icon: <Rocket className="size-4" />, testId: "nav-deployments" },
              { key: "domains", label: <DomainsTabLabel alerts={certs} />, icon: <Globe className="size-4" />, testId: "nav-domains" },
              { key: "alerts", label: <AlertsTabLabel firing={firing} />, icon: <Bell className="size-4" />, testId: "nav-alerts" },
              { key: "backups", label: "Backups", icon: <Archive className="size-4" />, testId: "nav-backups" },
              { key: "settings", label: "Settings", icon: <Settings className="size-4" />, testId: "nav-settings" },
            ]}
          />
          <LiveIndicator live={live} onRetry={retryNow} />
        </div>
        {/* Open agent sessions are offered again each time the server's event stream is back. */}
        <TerminalArea backend={backend} server={server} local={local} connected={!!conn && live.state === "live"}>
        <div className="min-h-0 flex-1 overflow-y-auto px-6 pt-4 pb-8" data-testid="server-content">
          {nav.canBack && (
            <button
              type="button"
              data-testid="nav-back"
              onClick={nav.back}
              className="mb-3 inline-flex items-center gap-1 text-[13px] font-medium text-zinc-500 hover:text-zinc-900 dark:hover:text-zinc-100"
            >
              <ArrowLeft className="size-4" /> Back
            </button>
          )}
          {connError ? (
            <ErrorPanel error={connError} onRetry={() => void load(true)} />
          ) : !conn && route.view !== "apps" ? (
            <LoadingBlock label="Connecting…" />
          ) : (
            <Suspense fallback={<LoadingBlock label="Loading…" />}>
              <RouteView
                route={route}
                apps={apps}
                appsError={error}
                onRetry={() => void load(!conn)}
                refreshing={refreshing}
                live={live}
                conn={conn}
                local={local}
                onConnection={connectionChanged}
              />
            </Suspense>
          )}
        </div>
        </TerminalArea>
      </section>
      </DomainsContext.Provider>
    </ServerContext.Provider>
  );
}

function RouteView({
  route,
  apps,
  appsError,
  onRetry,
  refreshing,
  live,
  conn,
  local,
  onConnection,
}: {
  route: Route;
  apps: App[] | null;
  appsError: UiError | null;
  onRetry: () => void;
  refreshing: boolean;
  live: LiveState;
  conn: Connection | null;
  local: boolean;
  onConnection: (c: Connection) => void;
}) {
  switch (route.view) {
    case "apps":
      return appsError && !apps ? (
        <ErrorPanel error={appsError} onRetry={onRetry} />
      ) : (
        <AppsList apps={apps} error={appsError} refreshing={refreshing} live={live.state === "live"} />
      );
    case "app":
      return <AppDetail key={route.app} name={route.app} tab={route.tab} />;
    case "catalog":
      return <CatalogBrowser />;
    case "template":
      return <TemplatePage key={route.id} id={route.id} />;
    case "deployments":
      return <DeploymentsList />;
    case "deployment":
      return <DeploymentView key={route.id} id={route.id} secrets={route.secrets} />;
    case "domains":
      return <DomainsView apps={apps} />;
    case "alerts":
      return <AlertsView />;
    case "backups":
      return <BackupsView local={local} />;
    case "settings":
      return conn ? <ServerSettings conn={conn} local={local} onConnection={onConnection} /> : <LoadingBlock label="Connecting…" />;
  }
}

/** The server's link: live, reconnecting (and when), or stopped with why and a Retry. */
function LiveIndicator({ live, onRetry }: { live: LiveState; onRetry: () => void }) {
  useTick(live.state === "retrying");
  const text =
    live.state === "live"
      ? "Live"
      : live.state === "connecting"
        ? "Connecting to events…"
        : live.state === "retrying"
          ? `Reconnecting in ${retryInSeconds(live, Date.now())} s`
          : live.state === "failed"
            ? `Disconnected: ${live.error.message}`
            : "Offline";
  const title =
    live.state === "retrying"
      ? `Live updates interrupted${live.error ? `: ${live.error.message}` : ""}`
      : live.state === "failed"
        ? [`${errorTitle(live.error)}: ${live.error.message}`, errorHint(live.error)].filter(Boolean).join("\n")
        : text;
  return (
    <span
      data-testid="live-status"
      data-state={live.state}
      title={title}
      className={cx(
        "mb-2 inline-flex max-w-[24rem] min-w-0 items-center gap-1.5 text-xs",
        live.state === "retrying" ? "text-amber-700 dark:text-amber-400" : live.state === "failed" ? "text-red-700 dark:text-red-400" : "text-zinc-500",
      )}
    >
      <span
        className={cx(
          "size-2 shrink-0 rounded-full",
          live.state === "live"
            ? "bg-emerald-500"
            : live.state === "retrying"
              ? "bg-amber-500"
              : live.state === "failed"
                ? "bg-red-500"
                : live.state === "connecting"
                  ? "animate-pulse bg-zinc-400"
                  : "bg-zinc-300 dark:bg-zinc-600",
        )}
      />
      <span className="truncate" data-testid="live-text">
        {text}
      </span>
      {live.state === "failed" && (
        <Button size="sm" variant="secondary" className="h-6 shrink-0 px-2 text-xs" data-testid="live-retry" onClick={onRetry}>
          Retry
        </Button>
      )}
    </span>
  );
}

export function ErrorPanel({ error, onRetry }: { error: UiError; onRetry: () => void }) {
  const hint = errorHint(error);
  return (
    <div role="alert" data-testid="server-error" data-code={error.code} className="rounded-xl border border-red-200 bg-red-50/60 p-5 dark:border-red-900/60 dark:bg-red-950/30">
      <div className="flex gap-3">
        <AlertTriangle className="mt-0.5 size-5 shrink-0 text-red-500" />
        <div className="min-w-0 flex-1">
          <h3 className="font-semibold text-red-800 dark:text-red-300">{errorTitle(error)}</h3>
          <p className="mt-1 text-sm break-words text-red-700 dark:text-red-400">{error.message}</p>
          {hint && <p className="mt-2 text-sm text-zinc-700 dark:text-zinc-300">{hint}</p>}
          <Button size="sm" className="mt-3" onClick={onRetry}>
            Try again
          </Button>
        </div>
      </div>
    </div>
  );
}
