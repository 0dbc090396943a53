// The server's apps with live state; a row opens the app.
import { useState } from "react";
import { Boxes, ChevronRight, FolderUp, Plus, Search } from "lucide-react";
import type { UiError } from "../api/desktop.gen";
import type { App, AppState } from "../api/types.gen";
import { appStateWord } from "../lib/format";
import { useServer } from "../lib/server";
import { DeployFolderDialog } from "./DeployFolder";
import { Badge, Button, EmptyState, ErrorAlert, Input, LoadingBlock } from "./ui";

const stateTone: Record<AppState, "green" | "amber" | "red" | "zinc"> = {
  running: "green",
  partial: "amber",
  degraded: "red",
  stopped: "zinc",
  empty: "zinc",
};

export function ports(app: App): string[] {
  const out = new Set<string>();
  for (const s of app.services)
    for (const c of s.containers)
      for (const p of c.ports) if (p.public_port) out.add(`${p.public_port}→${p.private_port}/${p.protocol}`);
  return [...out].sort();
}

export function AppsList({ apps, error, refreshing, live }: { apps: App[] | null; error: UiError | null; refreshing: boolean; live: boolean }) {
  const { nav } = useServer();
  const [filter, setFilter] = useState("");
  const [deployFolder, setDeployFolder] = useState(false);
  const shown = apps?.filter((a) => a.name.toLowerCase().includes(filter.trim().toLowerCase())) ?? null;
  return (
    <div>
      <div className="mb-3 flex items-center gap-3">
        <h2 className="text-lg font-semibold tracking-tight">Apps</h2>
        {apps && (
          <span className="text-xs text-zinc-500" data-testid="apps-summary">
            {apps.length} on this server · {live ? "live" : "refreshes every 30 s"}
            {refreshing && " · refreshing…"}
          </span>
        )}
        <div className="flex-1" />
        {apps && apps.length > 5 && (
          <div className="relative w-56">
            <Search className="pointer-events-none absolute top-2 left-2.5 size-4 text-zinc-400" />
            <Input data-testid="apps-filter" aria-label="Filter apps" className="h-8 pl-8 text-[13px]" placeholder="Filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
          </div>
        )}
        <Button size="sm" variant="secondary" data-testid="apps-deploy-folder" onClick={() => setDeployFolder(true)}>
          <FolderUp className="size-4" /> Deploy compose file…
        </Button>
        <Button size="sm" variant="primary" data-testid="apps-install" onClick={() => nav.go({ view: "catalog" })}>
          <Plus className="size-4" /> Install app
        </Button>
      </div>
      {deployFolder && <DeployFolderDialog onClose={() => setDeployFolder(false)} />}
      {error && apps && <ErrorAlert className="mb-3" error={error} title="Could not refresh the apps list" testId="apps-refresh-error" />}
      {shown === null ? (
        <LoadingBlock label="Loading apps…" rowClass="h-14" />
      ) : apps?.length === 0 ? (
        <EmptyState icon={<Boxes className="size-10" />} title="No apps on this server yet">
          Compose projects started on this server appear here, whether AppOS deployed them or not. Install one from the Catalog, or deploy a compose file from this computer.
        </EmptyState>
      ) : (
        <AppsTable apps={shown} onOpen={(name) => nav.go({ view: "app", app: name, tab: "overview" })} />
      )}
    </div>
  );
}

function AppsTable({ apps, onOpen }: { apps: App[]; onOpen: (name: string) => void }) {
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-sm" data-testid="apps-table">
        <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
          <tr>
            <th className="px-4 py-2">Name</th>
            <th className="px-4 py-2">State</th>
            <th className="px-4 py-2">Services</th>
            <th className="px-4 py-2">Ports</th>
            <th className="w-8" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
          {apps.map((a) => {
            const containers = a.services.flatMap((s) => s.containers);
            const running = containers.filter((c) => c.state === "running").length;
            return (
              <tr
                key={a.name}
                data-testid={`app-row-${a.name}`}
                tabIndex={0}
                role="link"
                aria-label={`Open ${a.name}`}
                onClick={() => onOpen(a.name)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" || e.key === " ") {
                    e.preventDefault();
                    onOpen(a.name);
                  }
                }}
                className="group cursor-pointer hover:bg-zinc-50/80 focus-visible:bg-indigo-50/50 focus-visible:outline-none dark:hover:bg-zinc-900/50 dark:focus-visible:bg-indigo-500/10"
              >
                <td className="px-4 py-2.5">
                  <div className="font-medium">{a.name}</div>
                  <div className="mt-0.5">{a.managed ? <Badge tone="indigo">managed</Badge> : <Badge>created outside AppOS</Badge>}</div>
                </td>
                <td className="px-4 py-2.5">
                  <Badge tone={stateTone[a.state]} data-testid={`app-state-${a.name}`}>
                    {appStateWord(a)}
                  </Badge>
                  <div className="mt-1 text-xs text-zinc-500 tabular-nums">
                    {running}/{containers.length} running
                  </div>
                </td>
                <td className="px-4 py-2.5 text-zinc-700 dark:text-zinc-300">
                  {a.services.map((s) => (
                    <div key={s.name} className="truncate">
                      {s.name} <span className="text-xs text-zinc-500">{s.containers[0]?.image}</span>
                    </div>
                  ))}
                </td>
                <td className="px-4 py-2.5 font-mono text-xs text-zinc-600 dark:text-zinc-400">{ports(a).join(", ") || "—"}</td>
                <td className="pr-3 text-zinc-300 group-hover:text-zinc-500 dark:text-zinc-700">
                  <ChevronRight className="size-4" />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
