// An app's resource usage: CPU, memory and network of each running
// container, from the agent's readings, with a small chart of the history.
import { useEffect } from "react";
import { Gauge } from "lucide-react";
import type { ContainerStats } from "../api/types.gen";
import { fmtBytesIEC, fmtCpu, sparkPoints } from "../lib/format";
import { useLatest, useLoad } from "../lib/hooks";
import { useServer } from "../lib/server";
import { ErrorAlert, LoadingBlock } from "./ui";

/** How often the page asks for new readings while it is shown. */
export const STATS_POLL_MS = 5000;

/** The size of a chart's drawing box (its SVG user units). */
export const CHART_WIDTH = 120;
export const CHART_HEIGHT = 24;

export function AppResources({ app }: { app: string }) {
  const { backend, server } = useServer();
  const stats = useLoad(() => backend.call(server, { call: "get_app_stats", args: { app } }), [backend, server, app]);
  const { reload } = stats;
  // No new call while one is under way, nor while the window is hidden.
  const loading = useLatest(stats.loading);
  useEffect(() => {
    const t = setInterval(() => {
      if (!document.hidden && !loading.current) void reload();
    }, STATS_POLL_MS);
    return () => clearInterval(t);
  }, [reload, loading]);

  const containers = stats.data?.containers ?? null;
  const services: [string, ContainerStats[]][] = [];
  for (const c of containers ?? []) {
    const last = services[services.length - 1];
    if (last && last[0] === c.service) last[1].push(c);
    else services.push([c.service, [c]]);
  }

  return (
    <section data-testid="app-resources">
      <h3 className="mb-2 flex items-center gap-2 text-[13px] font-semibold">
        <Gauge className="size-4 text-zinc-400" /> Resources
        <span className="font-normal text-zinc-500">updated every {STATS_POLL_MS / 1000} s</span>
      </h3>
      {stats.error && (
        <ErrorAlert
          className={containers ? "mb-3" : undefined}
          error={stats.error}
          title={containers ? "Could not refresh the resource usage" : "Could not read the resource usage"}
          testId="resources-error"
          onRetry={() => void reload()}
        />
      )}
      {!containers ? (
        !stats.error && <LoadingBlock label="Loading the resource usage…" rows={1} rowClass="h-16" />
      ) : containers.length === 0 ? (
        <p className="text-sm text-zinc-500" data-testid="resources-waiting">
          Waiting for the first reading…
        </p>
      ) : (
        <div className="space-y-3">
          {services.map(([service, list]) => (
            <div key={service} data-testid={`resources-service-${service}`}>
              <p className="mb-1.5 text-xs font-medium text-zinc-500">{service}</p>
              <div className="grid gap-2 md:grid-cols-2">
                {list.map((c) => (
                  <ContainerUsage key={c.id} c={c} />
                ))}
              </div>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function ContainerUsage({ c }: { c: ContainerStats }) {
  const l = c.latest;
  const peakCpu = Math.max(0, ...c.history.map((s) => s.cpu_percent));
  const peakMemory = Math.max(0, ...c.history.map((s) => s.memory_bytes));
  return (
    <div className="rounded-xl border border-zinc-200 px-3 py-2.5 dark:border-zinc-800" data-testid={`resources-container-${c.name}`}>
      <p className="truncate font-mono text-xs text-zinc-600 dark:text-zinc-400" title={c.name}>
        {c.name}
      </p>
      {!l ? (
        <p className="mt-1.5 text-sm text-zinc-500" data-testid="resources-waiting">
          Waiting for the first reading…
        </p>
      ) : (
        <dl className="mt-2 grid grid-cols-[4.5rem_1fr_auto] items-center gap-x-3 gap-y-1.5 text-xs">
          <dt className="text-zinc-500">CPU</dt>
          <dd className="font-medium tabular-nums" data-testid={`resources-cpu-${c.name}`}>
            {fmtCpu(l.cpu_percent)}
          </dd>
          <dd>
            <Sparkline
              samples={c.history.map((s) => [s.at_ms, s.cpu_percent])}
              label={`CPU per minute, at most ${fmtCpu(peakCpu)}`}
              testId={`resources-cpu-chart-${c.name}`}
            />
          </dd>
          <dt className="text-zinc-500">Memory</dt>
          <dd className="font-medium tabular-nums" data-testid={`resources-memory-${c.name}`}>
            {l.memory_limit_bytes > 0 ? `${fmtBytesIEC(l.memory_bytes)} / ${fmtBytesIEC(l.memory_limit_bytes)}` : fmtBytesIEC(l.memory_bytes)}
          </dd>
          <dd>
            <Sparkline
              samples={c.history.map((s) => [s.at_ms, s.memory_bytes])}
              label={`Memory per minute, at most ${fmtBytesIEC(peakMemory)}`}
              testId={`resources-memory-chart-${c.name}`}
            />
          </dd>
          <dt className="text-zinc-500">Network</dt>
          <dd className="col-span-2 font-medium tabular-nums" data-testid={`resources-net-${c.name}`}>
            {fmtBytesIEC(l.net_rx_bytes)} received · {fmtBytesIEC(l.net_tx_bytes)} sent
          </dd>
        </dl>
      )}
    </div>
  );
}

/** A small line chart of a history; says so when there is none yet. */
function Sparkline({ samples, label, testId }: { samples: [number, number][]; label: string; testId: string }) {
  if (samples.length === 0) return <span className="text-[11px] text-zinc-400">no history yet</span>;
  return (
    <svg
      viewBox={`-1 -1 ${CHART_WIDTH + 2} ${CHART_HEIGHT + 2}`}
      preserveAspectRatio="none"
      className="h-6 w-30 text-indigo-500 dark:text-indigo-400"
      role="img"
      aria-label={label}
      data-testid={testId}
    >
      <title>{label}</title>
      <polyline points={sparkPoints(samples, CHART_WIDTH, CHART_HEIGHT)} fill="none" stroke="currentColor" strokeWidth={1.5} strokeLinejoin="round" strokeLinecap="round" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
