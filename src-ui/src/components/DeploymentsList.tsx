// Deployments of the server (or of one app), newest first, live.
import { Rocket, RefreshCw } from "lucide-react";
import type { Deployment } from "../api/types.gen";
import { fmtAgo, fmtDuration, fmtTime } from "../lib/format";
import { useDebounced, useLoad, useTick } from "../lib/hooks";
import { isTerminal, useServer, useServerEvents } from "../lib/server";
import { Badge, Button, cx, EmptyState, ErrorAlert, LoadingBlock, stateTone } from "./ui";

export function DeploymentsList({ app }: { app?: string }) {
  const { backend, server, nav } = useServer();
  const list = useLoad(() => backend.call(server, { call: "list_deployments", args: { app: app ?? null } }), [backend, server, app]);
  const refreshSoon = useDebounced(() => void list.reload(), 300);
  useServerEvents((e) => {
    if ((e.kind === "deployment" || e.kind === "deployment_step") && (!app || e.app === app)) refreshSoon();
  });
  const rows = list.data ? [...list.data].sort((a, b) => b.created_ms - a.created_ms) : null;
  useTick(!!rows?.some((d) => !isTerminal(d.state)));
  return (
    <div>
      <div className="mb-3 flex items-center gap-3">
        <h2 className={cx("font-semibold tracking-tight", app ? "text-[15px]" : "text-lg")}>{app ? "Deployments of this app" : "Deployments"}</h2>
        {rows && <span className="text-xs text-zinc-500">{rows.length} · live</span>}
        <div className="flex-1" />
        <Button size="sm" variant="ghost" aria-label="Reload deployments" data-testid="deployments-reload" onClick={() => void list.reload()}>
          <RefreshCw className={cx("size-4", list.loading && "animate-spin")} />
        </Button>
      </div>
      {list.error && <ErrorAlert className="mb-3" error={list.error} title="Could not list deployments" testId="deployments-error" onRetry={() => void list.reload()} />}
      {rows === null ? (
        !list.error && <LoadingBlock label="Loading deployments…" />
      ) : rows.length === 0 ? (
        <EmptyState icon={<Rocket className="size-10" />} title="No deployments yet">
          Installs, saves with deploy, and app actions (start, stop, update…) show up here.
        </EmptyState>
      ) : (
        <DeploymentsTable rows={rows} showApp={!app} onOpen={(id) => nav.go({ view: "deployment", id })} />
      )}
    </div>
  );
}

function DeploymentsTable({ rows, showApp, onOpen }: { rows: Deployment[]; showApp: boolean; onOpen: (id: string) => void }) {
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-sm" data-testid="deployments-table">
        <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
          <tr>
            {showApp && <th className="px-4 py-2">App</th>}
            <th className="px-4 py-2">Operation</th>
            <th className="px-4 py-2">Version</th>
            <th className="px-4 py-2">State</th>
            <th className="px-4 py-2">Created</th>
            <th className="px-4 py-2 text-right">Duration</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
          {rows.map((d) => (
            <tr
              key={d.id}
              data-testid={`deployment-row-${d.id}`}
              tabIndex={0}
              role="link"
              onClick={() => onOpen(d.id)}
              onKeyDown={(e) => e.key === "Enter" && onOpen(d.id)}
              className="cursor-pointer hover:bg-zinc-50/80 focus-visible:bg-indigo-50/50 focus-visible:outline-none dark:hover:bg-zinc-900/50"
            >
              {showApp && <td className="px-4 py-2 font-medium">{d.app}</td>}
              <td className="px-4 py-2 capitalize">{d.operation}</td>
              <td className="px-4 py-2 text-zinc-600 tabular-nums dark:text-zinc-400">{d.version > 0 ? `v${d.version}` : "—"}</td>
              <td className="px-4 py-2">
                <Badge tone={stateTone(d.state)} data-testid={`deployment-row-state-${d.id}`} title={d.error ?? undefined}>
                  {d.state}
                </Badge>
                {d.error && <span className="ml-2 inline-block max-w-64 truncate align-middle text-xs text-red-600 dark:text-red-400">{d.error}</span>}
              </td>
              <td className="px-4 py-2 text-zinc-600 dark:text-zinc-400" title={fmtTime(d.created_ms)}>
                {fmtAgo(d.created_ms)}
              </td>
              <td className="px-4 py-2 text-right text-zinc-600 tabular-nums dark:text-zinc-400">{fmtDuration((d.finished_ms ?? Date.now()) - d.created_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
