// One app: state, last backup, services and containers, resource usage, host access and activity,
// actions, and its sub-tabs (logs, compose editor, history, deployments, domains).
import { lazy, Suspense, useEffect, useRef, useState, type ReactNode } from "react";
import { ChevronDown, Download, FileCode, Globe, History as HistoryIcon, Import, Info, LayoutList, Play, RotateCw, Rocket, ScrollText, Square, SquareTerminal, Trash2 } from "lucide-react";
import { toUiError } from "../api/backend";
import type { UiError } from "../api/desktop.gen";
import type { AppAction } from "../api/calls.gen";
import type { App } from "../api/types.gen";
import { useDomains } from "../lib/domains";
import { appStateWord } from "../lib/format";
import { useDebounced, useLoad } from "../lib/hooks";
import { useServer, useServerEvents, type AppTab } from "../lib/server";
import { AppActivity } from "./Activity";
import { AppResources } from "./AppResources";
import { AppLastBackup } from "./Backups";
import { DeploymentsList } from "./DeploymentsList";
import { AppDomains } from "./Domains";
import { History } from "./History";
import { AppHostAccess } from "./HostAccess";
import { LogsViewer } from "./LogsViewer";
import { useTerminals } from "./Terminals";
import { Badge, Button, Checkbox, Dialog, ErrorAlert, LoadingBlock, stateTone, Tabs, type TabItem } from "./ui";

// CodeMirror and the YAML parser load with the first visit of the Compose tab.
const ComposeEditor = lazy(() => import("./ComposeEditor").then((m) => ({ default: m.ComposeEditor })));

type Action = AppAction | "redeploy" | "delete";

export function AppDetail({ name, tab }: { name: string; tab: AppTab }) {
  const { backend, server, nav } = useServer();
  const domains = useDomains();
  const app = useLoad(() => backend.call(server, { call: "get_app", args: { app: name } }), [backend, server, name]);
  const refreshSoon = useDebounced(() => void app.reload(), 300);
  useServerEvents((e) => {
    if (e.app === name && (e.kind === "container" || e.kind === "deployment")) refreshSoon();
  });

  const [busy, setBusy] = useState<Action | null>(null);
  const [actionError, setActionError] = useState<{ action: Action; error: UiError } | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleteVolumes, setDeleteVolumes] = useState(false);
  const [confirmAdopt, setConfirmAdopt] = useState(false);
  const [adopting, setAdopting] = useState(false);
  const [adoptError, setAdoptError] = useState<UiError | null>(null);

  async function adopt() {
    setAdopting(true);
    setAdoptError(null);
    try {
      await backend.call(server, { call: "adopt_app", args: { project: name } });
      setConfirmAdopt(false);
      void app.reload();
    } catch (e) {
      // Shown in the dialog, where it happened (e.g. "cannot read the compose files").
      setAdoptError(toUiError(e));
    } finally {
      setAdopting(false);
    }
  }

  async function run(action: Action) {
    setBusy(action);
    setActionError(null);
    try {
      let id: string | null;
      if (action === "redeploy") id = (await backend.call(server, { call: "redeploy_app", args: { app: name } })).deployment_id;
      else if (action === "delete") id = (await backend.call(server, { call: "delete_app", args: { app: name, volumes: deleteVolumes } })).id;
      else id = (await backend.call(server, { call: "run_app_action", args: { app: name, action } })).id;
      setConfirmDelete(false);
      if (id) nav.go({ view: "deployment", id });
      else void app.reload();
    } catch (e) {
      setConfirmDelete(false);
      setActionError({ action, error: toUiError(e) });
    } finally {
      setBusy(null);
    }
  }

  const a = app.data;
  const setTab = (t: AppTab) => nav.replace({ view: "app", app: name, tab: t });
  const managed = a?.managed ?? false;
  const tabs: TabItem<AppTab>[] = [
    { key: "overview", label: "Overview", icon: <Info className="size-4" />, testId: "tab-overview" },
    { key: "logs", label: "Logs", icon: <ScrollText className="size-4" />, testId: "tab-logs" },
    ...(managed
      ? ([
          { key: "compose", label: "Compose", icon: <FileCode className="size-4" />, testId: "tab-compose" },
          { key: "history", label: "History", icon: <HistoryIcon className="size-4" />, testId: "tab-history" },
          { key: "deployments", label: "Deployments", icon: <Rocket className="size-4" />, testId: "tab-deployments" },
        ] as TabItem<AppTab>[])
      : []),
    {
      key: "domains",
      label: "Domains",
      icon: <Globe className="size-4" />,
      testId: "tab-domains",
      count: (!domains.noProxy && domains.list?.filter((d) => d.app === name).length) || null,
    },
  ];
  const shownTab: AppTab = a && !managed && tab !== "overview" && tab !== "logs" && tab !== "domains" ? "overview" : tab;

  return (
    <div data-testid="app-detail" data-app={name}>
      <div className="flex flex-wrap items-center gap-3">
        <h2 className="text-xl font-semibold tracking-tight" data-testid="app-title">
          {name}
        </h2>
        {a && (
          <>
            <Badge tone={stateTone(a.state)} data-testid="app-state">
              {appStateWord(a)}
            </Badge>
            {a.managed ? <Badge tone="indigo">managed</Badge> : <Badge>created outside AppOS</Badge>}
          </>
        )}
        <div className="flex-1" />
        {a && <ShellButton app={a} />}
        {a?.managed && (
          <div className="flex flex-wrap items-center gap-1.5" role="toolbar" aria-label="App actions">
            <ActionButton action="start" busy={busy} onRun={run} icon={<Play className="size-4" />} label="Start" title="Start the stopped containers" />
            <ActionButton action="stop" busy={busy} onRun={run} icon={<Square className="size-4" />} label="Stop" title="Stop the containers (nothing is removed)" />
            <ActionButton action="restart" busy={busy} onRun={run} icon={<RotateCw className="size-4" />} label="Restart" title="Restart the containers" />
            <ActionButton action="update" busy={busy} onRun={run} icon={<Download className="size-4" />} label="Update" title="Pull newer images and recreate the containers that changed" />
            <ActionButton action="redeploy" busy={busy} onRun={run} icon={<Rocket className="size-4" />} label="Redeploy" title="Deploy the latest version again" />
            <Button size="sm" variant="ghost" className="text-red-600 hover:bg-red-50 hover:text-red-700 dark:text-red-400 dark:hover:bg-red-950/40" data-testid="action-delete" disabled={!!busy} onClick={() => { setDeleteVolumes(false); setConfirmDelete(true); }}>
              <Trash2 className="size-4" /> Delete
            </Button>
          </div>
        )}
      </div>
      {actionError && <ErrorAlert className="mt-3" error={actionError.error} title={`Could not ${actionError.action} ${name}`} testId="action-error" />}
      {app.error && <ErrorAlert className="mt-3" error={app.error} title={a ? "Could not refresh this app" : "Could not read this app"} testId="app-error" onRetry={() => void app.reload()} />}
      {!a && !app.error && (
        <div className="mt-4">
          <LoadingBlock label="Loading the app…" rows={2} />
        </div>
      )}
      {a && !a.managed && (
        <div className="mt-3 flex flex-wrap items-center gap-3 rounded-lg border border-zinc-200 bg-zinc-50 px-3 py-2 text-[13px] text-zinc-600 dark:border-zinc-800 dark:bg-zinc-900 dark:text-zinc-400" data-testid="app-unmanaged-note">
          <p className="min-w-64 flex-1">
            This app was created outside AppOS (e.g. with <code className="font-mono">docker compose up</code> on the server). AppOS shows its services and logs, but has no versions of it and does not run actions on it until you adopt it.
          </p>
          <Button size="sm" variant="secondary" data-testid="action-adopt" onClick={() => { setAdoptError(null); setConfirmAdopt(true); }}>
            <Import className="size-3.5" /> Adopt
          </Button>
        </div>
      )}
      <Dialog
        open={confirmAdopt}
        onClose={() => setConfirmAdopt(false)}
        title={`Adopt ${name}?`}
        testId="adopt-dialog"
        description="AppOS takes over this compose project, as if it had deployed it."
        footer={
          <>
            <Button variant="secondary" onClick={() => setConfirmAdopt(false)}>
              Cancel
            </Button>
            <Button variant="primary" busy={adopting} data-testid="adopt-confirm" onClick={() => void adopt()}>
              <Import className="size-4" /> Adopt
            </Button>
          </>
        }
      >
        <ul className="list-disc space-y-1.5 pl-5 text-sm text-zinc-700 dark:text-zinc-300">
          <li>
            Its compose files (merged, with their variables) and its <code className="font-mono text-xs">.env</code> become <strong>version 1</strong> of an AppOS app; its own bind mounts stay allowed.
          </li>
          <li>
            <strong>Nothing is restarted</strong> now: the containers keep running as they are.
          </li>
          <li>From then on it has a history, and start, stop, update, redeploy and rollback work on it; the next deployment recreates it from AppOS's copy.</li>
        </ul>
        {adoptError && <ErrorAlert className="mt-4" error={adoptError} title={`Could not adopt ${name}`} testId="adopt-error" />}
      </Dialog>
      {a && (
        <>
          <Tabs<AppTab> label="App sections" className="mt-4 mb-4" items={tabs} active={shownTab} onSelect={setTab} />
          {shownTab === "overview" && <Overview app={a} />}
          {shownTab === "logs" && <LogsViewer app={name} services={a.services.map((s) => s.name)} />}
          {shownTab === "compose" && (
            <Suspense fallback={<LoadingBlock label="Loading the editor…" rows={1} rowClass="h-72" />}>
              <ComposeEditor app={name} />
            </Suspense>
          )}
          {shownTab === "history" && <History app={name} />}
          {shownTab === "deployments" && <DeploymentsList app={name} />}
          {shownTab === "domains" && <AppDomains app={a} />}
        </>
      )}
      <Dialog
        open={confirmDelete}
        onClose={() => setConfirmDelete(false)}
        tone="danger"
        title={`Delete ${name}?`}
        testId="delete-dialog"
        description="Its containers and networks are removed, with its compose file and version history on the server. Deployment records stay."
        footer={
          <>
            <Button variant="ghost" onClick={() => setConfirmDelete(false)}>
              Cancel
            </Button>
            <Button variant="danger" busy={busy === "delete"} data-testid="delete-confirm" onClick={() => void run("delete")}>
              {deleteVolumes ? "Delete app and data" : "Delete app"}
            </Button>
          </>
        }
      >
        <Checkbox data-testid="delete-volumes" checked={deleteVolumes} onChange={(e) => setDeleteVolumes(e.target.checked)} label={<>Also remove volumes (data) — <b>cannot be undone</b></>} />
        <p className="mt-1 pl-6 text-xs text-zinc-500">Unchecked, the named volumes stay on the server and a new app of the same name finds its data again.</p>
      </Dialog>
    </div>
  );
}

function ActionButton({ action, busy, onRun, icon, label, title }: { action: Action; busy: Action | null; onRun: (a: Action) => void; icon: ReactNode; label: string; title: string }) {
  return (
    <Button size="sm" variant="secondary" title={title} data-testid={`action-${action}`} busy={busy === action} disabled={!!busy && busy !== action} onClick={() => onRun(action)}>
      {busy === action ? null : icon}
      {label}
    </Button>
  );
}

/** Opens a shell in one of the app's running containers (a picker when several run). */
function ShellButton({ app }: { app: App }) {
  const terminals = useTerminals();
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);
  if (!terminals) return null;
  const services = app.services.filter((s) => s.containers.some((c) => c.state === "running")).map((s) => s.name);
  const go = (service: string) => {
    setOpen(false);
    terminals.open({ type: "container", app: app.name, service });
  };
  return (
    <div className="relative" ref={ref}>
      <Button
        size="sm"
        variant="secondary"
        data-testid="action-terminal"
        disabled={services.length === 0}
        aria-haspopup={services.length > 1 ? "menu" : undefined}
        aria-expanded={services.length > 1 ? open : undefined}
        title={services.length === 0 ? "No container of this app is running" : services.length === 1 ? `Open a shell in ${services[0]}` : "Open a shell in one of its containers"}
        onClick={() => (services.length === 1 ? go(services[0]) : setOpen((o) => !o))}
      >
        <SquareTerminal className="size-4" /> Shell
        {services.length > 1 && <ChevronDown className="-ml-1 size-3.5 opacity-60" />}
      </Button>
      {open && (
        <div role="menu" aria-label="Open a shell in" className="absolute top-9 right-0 z-20 w-52 rounded-lg border border-zinc-200 bg-white p-1 text-[13px] shadow-xl dark:border-zinc-700 dark:bg-zinc-900">
          <p className="px-2 pt-1 pb-1.5 text-[11px] font-semibold tracking-wide text-zinc-500 uppercase">Shell in service</p>
          {services.map((s) => (
            <button
              key={s}
              type="button"
              role="menuitem"
              data-testid={`action-terminal-service-${s}`}
              onClick={() => go(s)}
              className="flex w-full items-center gap-2 rounded-md px-2 py-1.5 text-left font-mono text-xs hover:bg-zinc-100 dark:hover:bg-zinc-800"
            >
              <SquareTerminal className="size-3.5 text-zinc-400" /> {s}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

function Overview({ app }: { app: App }) {
  const terminals = useTerminals();
  const containers = app.services.flatMap((s) => s.containers.map((c) => ({ service: s.name, c })));
  const ports = containers.flatMap(({ service, c }) => c.ports.map((p) => ({ service, p })));
  const running = containers.some(({ c }) => c.state === "running");
  return (
    <div className="space-y-5" data-testid="app-overview">
      {app.managed && <AppLastBackup key={`backup:${app.name}`} app={app.name} />}
      <section>
        <h3 className="mb-2 flex items-center gap-2 text-[13px] font-semibold">
          <LayoutList className="size-4 text-zinc-400" /> Services and containers
        </h3>
        <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
          <table className="w-full text-sm" data-testid="app-containers">
            <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
              <tr>
                <th className="px-3 py-2">Service</th>
                <th className="px-3 py-2">Container</th>
                <th className="px-3 py-2">Image</th>
                <th className="px-3 py-2">State</th>
                <th className="px-3 py-2">Status</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {app.services.map((s) =>
                s.containers.length === 0 ? (
                  <tr key={s.name} data-testid={`service-${s.name}`}>
                    <td className="px-3 py-2 font-medium">{s.name}</td>
                    <td colSpan={4} className="px-3 py-2 text-zinc-500">
                      no container
                    </td>
                  </tr>
                ) : (
                  s.containers.map((c, i) => (
                    <tr key={c.id} data-testid={`container-${c.name}`}>
                      <td className="px-3 py-2 font-medium" data-testid={i === 0 ? `service-${s.name}` : undefined}>
                        {i === 0 ? s.name : ""}
                        {i === 0 && terminals && s.containers.some((x) => x.state === "running") && (
                          <Button
                            size="sm"
                            variant="ghost"
                            className="ml-2 h-6 px-2 text-xs"
                            title={`Open a shell in ${s.name}`}
                            data-testid={`action-terminal-${s.name}`}
                            onClick={() => terminals.open({ type: "container", app: app.name, service: s.name })}
                          >
                            <SquareTerminal className="size-3.5" /> Shell
                          </Button>
                        )}
                      </td>
                      <td className="px-3 py-2 font-mono text-xs">{c.name}</td>
                      <td className="max-w-64 truncate px-3 py-2 font-mono text-xs text-zinc-600 dark:text-zinc-400" title={c.image}>
                        {c.image}
                      </td>
                      <td className="px-3 py-2">
                        <Badge tone={stateTone(c.state)}>{c.state}</Badge>
                      </td>
                      <td className="px-3 py-2 text-xs text-zinc-600 dark:text-zinc-400">{c.status}</td>
                    </tr>
                  ))
                ),
              )}
              {app.services.length === 0 && (
                <tr>
                  <td colSpan={5} className="px-3 py-3 text-zinc-500">
                    No services.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>
      {running && <AppResources key={`resources:${app.name}`} app={app.name} />}
      <div className="grid gap-5 md:grid-cols-2">
        <section>
          <h3 className="mb-2 text-[13px] font-semibold">Ports</h3>
          {ports.length === 0 ? (
            <p className="text-sm text-zinc-500">No published ports.</p>
          ) : (
            <ul className="space-y-1 font-mono text-xs" data-testid="app-ports">
              {ports.map(({ service, p }, i) => (
                <li key={i} className="flex gap-2">
                  <span className="w-24 shrink-0 truncate text-zinc-500">{service}</span>
                  <span>{p.public_port ? `${p.ip || "0.0.0.0"}:${p.public_port}→${p.private_port}/${p.protocol}` : `${p.private_port}/${p.protocol} (not published)`}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section>
          <h3 className="mb-2 text-[13px] font-semibold">Files on the server</h3>
          <dl className="space-y-1 text-xs">
            <div className="flex gap-2">
              <dt className="w-28 shrink-0 text-zinc-500">Working directory</dt>
              <dd className="font-mono break-all" data-testid="app-working-dir">
                {app.working_dir ?? "—"}
              </dd>
            </div>
            <div className="flex gap-2">
              <dt className="w-28 shrink-0 text-zinc-500">Compose files</dt>
              <dd className="space-y-0.5 font-mono break-all" data-testid="app-config-files">
                {app.config_files.length ? app.config_files.map((f) => <div key={f}>{f}</div>) : "—"}
              </dd>
            </div>
          </dl>
        </section>
      </div>
      {app.managed && <AppHostAccess key={`access:${app.name}`} app={app.name} />}
      <AppActivity key={`activity:${app.name}`} app={app.name} />
    </div>
  );
}
