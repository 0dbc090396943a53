// One deployment, live: state, steps, per-layer pull progress and the log.
import { memo, useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Ban, CircleCheck, CircleDashed, CircleMinus, CircleX, KeyRound, LoaderCircle, ShieldAlert, Zap } from "lucide-react";
import { toUiError } from "../api/backend";
import type { StreamItem, UiError } from "../api/desktop.gen";
import type { Deployment, DeploymentStep, LogLine, StepState } from "../api/types.gen";
import { fmtAgo, fmtBytes, fmtClock, fmtDuration, fmtTime } from "../lib/format";
import { useLoad, useStickToBottom, useStream, useTick } from "../lib/hooks";
import { foldPull, layerFraction, layerPhase, type ImagePull } from "../lib/pull";
import { isTerminal, useServer, useServerEvents } from "../lib/server";
import { Badge, Button, CopyButton, cx, ErrorAlert, LoadingBlock, stateTone } from "./ui";

/** Fallback refresh while the deployment runs, in case events do not come. */
export const DEPLOYMENT_POLL_MS = 3000;
/** Log lines kept in memory. */
const MAX_LOG = 20_000;

export function DeploymentView({ id, secrets }: { id: string; secrets?: Record<string, string> }) {
  const { backend, server, nav, deploymentEnded } = useServer();
  const dep = useLoad(() => backend.call(server, { call: "get_deployment", args: { id } }), [backend, server, id]);
  const d = dep.data;
  const active = d ? !isTerminal(d.state) : true;

  // Notify the end of a deployment this view saw running.
  const sawActive = useRef(false);
  useEffect(() => {
    if (!d) return;
    if (!isTerminal(d.state)) sawActive.current = true;
    else if (sawActive.current) deploymentEnded({ id: d.id, app: d.app, operation: d.operation, state: d.state, version: d.version, error: d.error });
  }, [d, deploymentEnded]);

  // Live: events about this deployment, and a slow poll as a fallback.
  useServerEvents((e) => {
    if ((e.kind === "deployment" || e.kind === "deployment_step") && (e.data as Record<string, unknown>).deployment === id) void dep.reload();
  });
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => void dep.reload(), DEPLOYMENT_POLL_MS);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [active]);
  useTick(active && !!d);

  // The log stream: lines de-duplicated by seq, so a reconnect can replay.
  const [lines, setLines] = useState<LogLine[]>([]);
  const seen = useRef(new Set<string>());
  const [logEnd, setLogEnd] = useState<{ error: UiError | null } | null>(null);
  const [epoch, setEpoch] = useState(0);
  const pending = useRef<LogLine[]>([]);
  const flushTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (flushTimer.current) clearTimeout(flushTimer.current);
    },
    [],
  );
  const onItem = useCallback(
    (item: StreamItem) => {
      if (item.type === "deployment_log") {
        const k = String(item.line.seq);
        if (seen.current.has(k)) return;
        seen.current.add(k);
        pending.current.push(item.line);
        flushTimer.current ??= setTimeout(() => {
          flushTimer.current = null;
          const add = pending.current;
          pending.current = [];
          setLines((prev) => {
            const next = prev.concat(add);
            return next.length > MAX_LOG ? next.slice(next.length - MAX_LOG) : next;
          });
        }, 30);
      } else if (item.type === "end") {
        setLogEnd({ error: item.error });
        void dep.reload();
      }
    },
    [dep],
  );
  useStream(backend, server, { type: "deployment_log", id }, onItem, epoch);
  const reconnect = useCallback(() => {
    setLogEnd(null);
    setEpoch((n) => n + 1);
  }, []);

  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<UiError | null>(null);
  async function cancel() {
    setCancelling(true);
    setCancelError(null);
    try {
      dep.setData(await backend.call(server, { call: "cancel_deployment", args: { id } }));
    } catch (e) {
      setCancelError(toUiError(e));
    } finally {
      setCancelling(false);
    }
  }

  const pulls = useMemo(() => foldPull(lines), [lines]);
  const pullStep = d?.steps.find((s) => s.name === "pull");

  return (
    <div className="space-y-4" data-testid="deployment-view" data-id={id}>
      {secrets && <GeneratedSecrets secrets={secrets} onDismiss={() => nav.replace({ view: "deployment", id })} />}
      {dep.error && <ErrorAlert error={dep.error} title="Could not read the deployment" testId="deployment-error" onRetry={() => void dep.reload()} />}
      {!d ? (
        !dep.error && <LoadingBlock label="Loading the deployment…" rows={2} />
      ) : (
        <>
          <DeploymentHeader d={d} onCancel={cancel} cancelling={cancelling} />
          {cancelError && <ErrorAlert error={cancelError} title="Could not cancel" testId="deployment-cancel-error" />}
          {d.error && (
            <div role="alert" data-testid="deployment-failure" className="flex gap-2 rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">
              <CircleX className="mt-0.5 size-4 shrink-0" />
              <pre className="min-w-0 flex-1 font-mono text-xs break-words whitespace-pre-wrap">{d.error}</pre>
            </div>
          )}
          <Steps steps={d.steps} />
        </>
      )}
      {pulls.length > 0 && <PullProgress pulls={pulls} running={pullStep?.state === "running"} />}
      <LogPanel lines={lines} end={logEnd} onReconnect={reconnect} />
    </div>
  );
}

function DeploymentHeader({ d, onCancel, cancelling }: { d: Deployment; onCancel: () => void; cancelling: boolean }) {
  const { nav } = useServer();
  const end = d.finished_ms ?? Date.now();
  return (
    <div className="flex flex-wrap items-start gap-4">
      <div className="min-w-0 flex-1">
        <h2 className="flex flex-wrap items-center gap-2 text-lg font-semibold tracking-tight">
          <span className="capitalize">{d.operation}</span>
          <button type="button" className="text-indigo-600 hover:underline dark:text-indigo-400" data-testid="deployment-app" onClick={() => nav.go({ view: "app", app: d.app, tab: "overview" })}>
            {d.app}
          </button>
          {d.version > 0 && <span className="text-zinc-500">v{d.version}</span>}
          <Badge tone={stateTone(d.state)} data-testid="deployment-state">
            {d.state}
          </Badge>
        </h2>
        <p className="mt-1 text-xs text-zinc-500">
          <span title={fmtTime(d.created_ms)}>created {fmtAgo(d.created_ms)}</span> · {isTerminal(d.state) ? "took" : "running for"}{" "}
          <span className="tabular-nums">{fmtDuration(end - d.created_ms)}</span>
          {d.attempt > 1 && <> · attempt {d.attempt}</>} · <span className="font-mono">{d.id}</span>
        </p>
      </div>
      {(d.state === "queued" || d.state === "running") && (
        <Button variant="secondary" size="sm" busy={cancelling} data-testid="deployment-cancel" onClick={onCancel}>
          <Ban className="size-4" /> Cancel
        </Button>
      )}
    </div>
  );
}

/** Each step state's icon, and its wording (the icon's label, and the line's text when the step has no detail). */
const stepStates: Record<StepState, { icon: ReactNode; label: string; text: string }> = {
  running: { icon: <LoaderCircle className="size-4 animate-spin text-indigo-500" />, label: "running", text: "…" },
  succeeded: { icon: <CircleCheck className="size-4 text-emerald-500" />, label: "succeeded", text: "" },
  failed: { icon: <CircleX className="size-4 text-red-500" />, label: "failed", text: "" },
  skipped: { icon: <CircleMinus className="size-4 text-zinc-400" />, label: "skipped", text: "" },
  interrupted: {
    icon: <Zap className="size-4 text-amber-500" />,
    label: "interrupted",
    text: "interrupted: the agent stopped while this step ran; a later attempt runs it again",
  },
};

function Steps({ steps }: { steps: DeploymentStep[] }) {
  if (steps.length === 0)
    return (
      <p className="flex items-center gap-2 text-sm text-zinc-500" data-testid="deployment-no-steps">
        <CircleDashed className="size-4" /> Waiting for a worker to take it up…
      </p>
    );
  return (
    <ol className="divide-y divide-zinc-100 rounded-xl border border-zinc-200 dark:divide-zinc-800 dark:border-zinc-800" data-testid="deployment-steps">
      {steps.map((s, i) => (
        <li key={`${s.name}-${i}`} data-testid={`deployment-step-${s.name}`} data-state={s.state} className="flex items-center gap-3 px-3 py-2 text-sm">
          <span className="shrink-0" role="img" aria-label={stepStates[s.state]?.label ?? s.state} title={stepStates[s.state]?.label ?? s.state}>
            {stepStates[s.state]?.icon ?? <CircleDashed className="size-4" />}
          </span>
          <span className="w-32 shrink-0 font-mono text-[13px]">{s.name}</span>
          <span
            className={cx(
              "min-w-0 flex-1 truncate text-[13px]",
              s.state === "failed" ? "text-red-700 dark:text-red-400" : s.state === "interrupted" ? "text-amber-700 dark:text-amber-400" : "text-zinc-600 dark:text-zinc-400",
            )}
            title={s.detail || stepStates[s.state]?.text}
          >
            {s.detail || stepStates[s.state]?.text}
          </span>
          <span className="shrink-0 text-xs text-zinc-500 tabular-nums">{fmtDuration((s.finished_ms ?? Date.now()) - s.started_ms)}</span>
        </li>
      ))}
    </ol>
  );
}

const phaseColor = {
  waiting: "bg-zinc-300 dark:bg-zinc-600",
  downloading: "bg-indigo-500",
  downloaded: "bg-indigo-400",
  extracting: "bg-amber-500",
  done: "bg-emerald-500",
};

function PullProgress({ pulls, running }: { pulls: ImagePull[]; running: boolean }) {
  return (
    <section className="rounded-xl border border-zinc-200 p-3 dark:border-zinc-800" data-testid="pull-progress" aria-label="Image pulls">
      <h3 className="mb-2 flex items-center gap-2 text-[13px] font-semibold">
        Pulling images {running && <LoaderCircle className="size-3.5 animate-spin text-indigo-500" />}
      </h3>
      <div className="space-y-3">
        {pulls.map((img) => {
          const done = img.layers.filter((l) => layerPhase(l.status) === "done").length;
          return (
            <div key={img.image} data-testid={`pull-image-${img.image}`}>
              <div className="mb-1 flex items-baseline gap-2 text-xs">
                <span className="font-mono font-medium">{img.image}</span>
                <span className="text-zinc-500">
                  {img.layers.length > 0 && `${done}/${img.layers.length} layers`} {img.status && `· ${img.status}`}
                </span>
              </div>
              <div className="grid gap-x-4 gap-y-1 sm:grid-cols-2">
                {img.layers.map((l) => {
                  const phase = layerPhase(l.status);
                  const pct = Math.round(layerFraction(l) * 100);
                  return (
                    <div key={l.id} data-testid={`layer-${l.id}`} data-status={l.status} className="flex items-center gap-2 text-[11px]">
                      <span className="w-24 shrink-0 font-mono text-zinc-500">{l.id}</span>
                      <div
                        role="progressbar"
                        aria-label={`layer ${l.id}`}
                        aria-valuemin={0}
                        aria-valuemax={100}
                        aria-valuenow={pct}
                        className="h-1.5 min-w-12 flex-1 overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800"
                      >
                        <div className={cx("h-full rounded-full transition-[width] duration-300", phaseColor[phase])} style={{ width: `${pct}%` }} />
                      </div>
                      <span className="w-40 shrink-0 truncate text-zinc-600 dark:text-zinc-400" title={l.status}>
                        {l.status}
                        {l.current !== null && l.total ? ` ${fmtBytes(l.current)}/${fmtBytes(l.total)}` : ""}
                      </span>
                    </div>
                  );
                })}
              </div>
            </div>
          );
        })}
      </div>
    </section>
  );
}

// Memoised: the header ticks every second, the log need not re-render with it.
const LogPanel = memo(function LogPanel({ lines, end, onReconnect }: { lines: LogLine[]; end: { error: UiError | null } | null; onReconnect: () => void }) {
  const { box, onScroll } = useStickToBottom([lines]);
  // Consecutive lines of one step form a group under the step's name.
  const groups = useMemo(() => {
    const out: { step: string; lines: LogLine[] }[] = [];
    for (const l of lines) {
      const g = out[out.length - 1];
      if (g && g.step === l.step) g.lines.push(l);
      else out.push({ step: l.step, lines: [l] });
    }
    return out;
  }, [lines]);
  return (
    <section aria-label="Deployment log">
      <div className="mb-1.5 flex items-center gap-2">
        <h3 className="text-[13px] font-semibold">Log</h3>
        <span className="text-xs text-zinc-500">{lines.length} lines</span>
        <div className="flex-1" />
        {end && !end.error && <span className="text-xs text-zinc-500" data-testid="deployment-log-ended">end of log</span>}
      </div>
      {end?.error && (
        <div className="mb-2 flex items-center gap-2">
          <ErrorAlert className="flex-1" error={end.error} title="The log stream broke" testId="deployment-log-error" onRetry={onReconnect} />
        </div>
      )}
      <div
        ref={box}
        data-testid="deployment-log"
        onScroll={onScroll}
        className="max-h-[28rem] min-h-24 overflow-auto rounded-xl border border-zinc-200 bg-zinc-50 py-1 font-mono text-xs leading-5 dark:border-zinc-800 dark:bg-zinc-950"
      >
        {lines.length === 0 && <p className="px-3 py-2 text-zinc-500">{end ? "No log lines." : "Waiting for log lines…"}</p>}
        {groups.map((g, i) => (
          <div key={i} data-step={g.step}>
            <div className="sticky top-0 border-y border-zinc-200/70 bg-zinc-100/95 px-3 text-[11px] font-semibold tracking-wide text-zinc-500 uppercase first:border-t-0 dark:border-zinc-800 dark:bg-zinc-900/95">
              {g.step}
            </div>
            {g.lines.map((l) => (
              <div key={String(l.seq)} className="flex gap-3 px-3 hover:bg-zinc-100 dark:hover:bg-zinc-900" data-step={l.step}>
                <span className="shrink-0 text-zinc-400 select-none tabular-nums">{fmtClock(l.at_ms)}</span>
                <span className="min-w-0 break-all whitespace-pre-wrap">{l.text}</span>
              </div>
            ))}
          </div>
        ))}
      </div>
    </section>
  );
});

function GeneratedSecrets({ secrets, onDismiss }: { secrets: Record<string, string>; onDismiss: () => void }) {
  return (
    <section data-testid="generated-secrets" className="rounded-xl border border-amber-300 bg-amber-50 p-4 dark:border-amber-700/60 dark:bg-amber-950/30">
      <div className="flex items-start gap-3">
        <ShieldAlert className="mt-0.5 size-5 shrink-0 text-amber-600" />
        <div className="min-w-0 flex-1">
          <h3 className="font-semibold text-amber-900 dark:text-amber-200">Save these generated secrets now</h3>
          <p className="mt-0.5 text-sm text-amber-900/80 dark:text-amber-200/80">
            They are shown only once. AppOS keeps them in the app's .env on the server, but will not display them again.
          </p>
          <dl className="mt-3 space-y-1.5">
            {Object.entries(secrets).map(([k, v]) => (
              <div key={k} className="flex items-center gap-2 rounded-md bg-white/70 px-2 py-1 dark:bg-zinc-900/60">
                <KeyRound className="size-4 shrink-0 text-amber-600" />
                <dt className="w-44 shrink-0 truncate font-mono text-xs text-zinc-600 dark:text-zinc-400">{k}</dt>
                <dd className="min-w-0 flex-1 truncate font-mono text-sm select-all" data-testid={`generated-${k}`}>
                  {v}
                </dd>
                <CopyButton value={v} testId={`copy-${k}`} />
              </div>
            ))}
          </dl>
          <Button size="sm" className="mt-3" data-testid="secrets-dismiss" onClick={onDismiss}>
            I have saved them
          </Button>
        </div>
      </div>
    </section>
  );
}
