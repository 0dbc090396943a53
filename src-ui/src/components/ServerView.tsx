// The connected server: who answers, and its apps with live state.
import { useCallback, useEffect, useRef, useState } from "react";
import { AlertTriangle, Boxes, RefreshCw, Trash2 } from "lucide-react";
import type { Backend } from "../api/backend";
import type { Connection, UiError } from "../api/desktop.gen";
import type { App, AppState } from "../api/types.gen";
import { errorHint, errorTitle } from "../lib/errors";
import { Badge, Button, EmptyState, Spinner } from "./ui";
import type { ServerStatus } from "./Sidebar";

/** How often the apps list refreshes while it is on screen. */
export const POLL_MS = 3000;

const stateTone: Record<AppState, "green" | "amber" | "red" | "zinc"> = {
  running: "green",
  partial: "amber",
  degraded: "red",
  stopped: "zinc",
  empty: "zinc",
};

export function ServerView({
  backend,
  server,
  local,
  onStatus,
  onRemove,
}: {
  backend: Backend;
  server: string;
  local: boolean;
  onStatus: (s: ServerStatus) => void;
  onRemove: () => void;
}) {
  const [conn, setConn] = useState<Connection | null>(null);
  const [apps, setApps] = useState<App[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [refreshing, setRefreshing] = useState(false);
  const gen = useRef(0);

  const load = useCallback(
    async (first: boolean) => {
      const my = ++gen.current;
      if (first) {
        setConn(null);
        setApps(null);
        setError(null);
        onStatus("connecting");
      }
      setRefreshing(true);
      try {
        const c = first ? await backend.connect(server) : null;
        const a = await backend.listApps(server);
        if (my !== gen.current) return;
        if (c) setConn(c);
        setApps(a);
        setError(null);
        onStatus("connected");
      } catch (e) {
        if (my !== gen.current) return;
        setError(e as UiError);
        onStatus("error");
      } finally {
        if (my === gen.current) setRefreshing(false);
      }
    },
    [backend, server, onStatus],
  );

  useEffect(() => {
    void load(true);
    const t = setInterval(() => {
      if (!document.hidden) void load(false);
    }, POLL_MS);
    return () => {
      gen.current++;
      clearInterval(t);
    };
  }, [load]);

  const title = local ? "This computer" : server;
  return (
    <section className="flex min-w-0 flex-1 flex-col">
      <header className="flex h-14 shrink-0 items-center gap-3 border-b border-zinc-200 px-6 dark:border-zinc-800">
        <div className="min-w-0 flex-1">
          <h1 className="truncate text-[15px] font-semibold" data-testid="server-title">
            {title}
          </h1>
          <p className="truncate text-xs text-zinc-500" data-testid="server-via">
            {conn ? conn.via : error ? "not connected" : "connecting…"}
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
          <Button size="sm" variant="ghost" onClick={onRemove} aria-label="Remove server" data-testid="remove-server">
            <Trash2 className="size-4" />
          </Button>
        )}
      </header>
      <div className="flex-1 overflow-y-auto p-6">
        <div className="mb-4 flex items-baseline justify-between">
          <h2 className="text-lg font-semibold tracking-tight">Apps</h2>
          {apps && <span className="text-xs text-zinc-500">{apps.length} on this server · refreshes every {POLL_MS / 1000} s</span>}
        </div>
        {error ? (
          <ErrorPanel error={error} onRetry={() => void load(true)} />
        ) : apps === null ? (
          <LoadingRows />
        ) : apps.length === 0 ? (
          <EmptyState icon={<Boxes className="size-10" />} title="No apps on this server yet">
            Compose projects started on this server appear here, whether AppOS deployed them or not.
          </EmptyState>
        ) : (
          <AppsTable apps={apps} />
        )}
      </div>
    </section>
  );
}

function ErrorPanel({ error, onRetry }: { error: UiError; onRetry: () => void }) {
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

function LoadingRows() {
  return (
    <div className="space-y-2" aria-busy="true">
      <Spinner label="Loading apps…" />
      {[0, 1, 2].map((i) => (
        <div key={i} className="h-14 animate-pulse rounded-lg bg-zinc-100 dark:bg-zinc-800/60" />
      ))}
    </div>
  );
}

function ports(app: App): string[] {
  const out = new Set<string>();
  for (const s of app.services)
    for (const c of s.containers)
      for (const p of c.ports) if (p.public_port) out.add(`${p.public_port}→${p.private_port}/${p.protocol}`);
  return [...out].sort();
}

function AppsTable({ apps }: { apps: App[] }) {
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-sm" data-testid="apps-table">
        <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
          <tr>
            <th className="px-4 py-2.5">Name</th>
            <th className="px-4 py-2.5">State</th>
            <th className="px-4 py-2.5">Services</th>
            <th className="px-4 py-2.5">Ports</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
          {apps.map((a) => {
            const containers = a.services.flatMap((s) => s.containers);
            const running = containers.filter((c) => c.state === "running").length;
            return (
              <tr key={a.name} data-testid={`app-${a.name}`} className="hover:bg-zinc-50/60 dark:hover:bg-zinc-900/40">
                <td className="px-4 py-3">
                  <div className="font-medium">{a.name}</div>
                  <div className="mt-0.5">
                    {a.managed ? <Badge tone="indigo">managed</Badge> : <Badge>created outside AppOS</Badge>}
                  </div>
                </td>
                <td className="px-4 py-3">
                  <Badge tone={stateTone[a.state]} data-testid={`app-state-${a.name}`}>
                    {a.state}
                  </Badge>
                  <div className="mt-1 text-xs text-zinc-500">
                    {running}/{containers.length} running
                  </div>
                </td>
                <td className="px-4 py-3 text-zinc-700 dark:text-zinc-300">
                  {a.services.map((s) => (
                    <div key={s.name} className="truncate">
                      {s.name} <span className="text-xs text-zinc-500">{s.containers[0]?.image}</span>
                    </div>
                  ))}
                </td>
                <td className="px-4 py-3 font-mono text-xs text-zinc-600 dark:text-zinc-400">{ports(a).join(", ") || "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
