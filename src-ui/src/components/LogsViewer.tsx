// An app's container logs, streamed: service filter, server-side grep, follow.
import { memo, useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Eraser, Pause, Play, RefreshCw, Search } from "lucide-react";
import type { StreamItem, UiError } from "../api/desktop.gen";
import type { AppLogLine } from "../api/types.gen";
import { useDebouncedValue, useStickToBottom, useStream } from "../lib/hooks";
import { useServer } from "../lib/server";
import { useSessionState } from "../lib/session";
import { Button, cx, ErrorAlert, Input, Select } from "./ui";

/** Lines kept in memory; older ones are dropped. */
export const MAX_LOG_LINES = 5000;
export const LOG_TAIL = 200;
export const GREP_DEBOUNCE_MS = 400;

const tagColors = [
  "text-sky-700 dark:text-sky-400",
  "text-violet-700 dark:text-violet-400",
  "text-emerald-700 dark:text-emerald-400",
  "text-amber-700 dark:text-amber-400",
  "text-pink-700 dark:text-pink-400",
  "text-teal-700 dark:text-teal-400",
];

function colorOf(s: string) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return tagColors[h % tagColors.length];
}

interface Row {
  n: number;
  line: AppLogLine;
}

export function LogsViewer({ app, services }: { app: string; services: string[] }) {
  const { backend, server } = useServer();
  const [opts, setOpts] = useSessionState(`logs:${server}:${app}`, { service: "", grep: "", follow: true });
  const grep = useDebouncedValue(opts.grep.trim(), GREP_DEBOUNCE_MS);
  const req = useMemo(
    () => ({ type: "app_logs" as const, app, service: opts.service || null, tail: LOG_TAIL, grep: grep || null, follow: opts.follow }),
    [app, opts.service, grep, opts.follow],
  );

  const [rows, setRows] = useState<Row[]>([]);
  const [dropped, setDropped] = useState(0);
  const [end, setEnd] = useState<{ error: UiError | null } | null>(null);
  const [epoch, setEpoch] = useState(0);
  const counter = useRef(0);
  const pending = useRef<AppLogLine[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  // A new stream starts from a clean screen.
  const key = JSON.stringify(req) + epoch;
  useEffect(() => {
    setRows([]);
    setDropped(0);
    setEnd(null);
    pending.current = [];
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
  }, [key]);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );

  const onItem = useCallback((item: StreamItem) => {
    if (item.type === "app_log") {
      pending.current.push(item.line);
      timer.current ??= setTimeout(() => {
        timer.current = null;
        const add = pending.current.map((line) => ({ n: counter.current++, line }));
        pending.current = [];
        setRows((prev) => {
          const next = prev.concat(add);
          if (next.length <= MAX_LOG_LINES) return next;
          setDropped((d) => d + next.length - MAX_LOG_LINES);
          return next.slice(next.length - MAX_LOG_LINES);
        });
      }, 60);
    } else if (item.type === "end") {
      setEnd({ error: item.error });
    }
  }, []);
  useStream(backend, server, req, onItem, epoch);

  const { box, onScroll } = useStickToBottom([rows], opts.follow);

  const highlight = useMemo(() => {
    if (!grep) return null;
    try {
      return new RegExp(grep, "gi");
    } catch {
      return null;
    }
  }, [grep]);

  return (
    <div data-testid="logs-view" className="flex flex-col gap-2">
      <div className="flex flex-wrap items-center gap-2">
        <Select data-testid="logs-service" aria-label="Service" value={opts.service} onChange={(e) => setOpts((o) => ({ ...o, service: e.target.value }))}>
          <option value="">All services</option>
          {services.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </Select>
        <div className="relative w-64">
          <Search className="pointer-events-none absolute top-2 left-2.5 size-4 text-zinc-400" />
          <Input
            data-testid="logs-grep"
            aria-label="Filter lines (regular expression, on the server)"
            className="h-8 pl-8 font-mono text-[13px]"
            placeholder="grep (regex)"
            value={opts.grep}
            onChange={(e) => setOpts((o) => ({ ...o, grep: e.target.value }))}
          />
        </div>
        <label
          title={opts.follow ? "Following new lines; uncheck to stop" : "Check to follow new lines"}
          className={cx(
            "inline-flex h-8 cursor-pointer items-center gap-2 rounded-md border px-2.5 text-[13px] font-medium select-none",
            opts.follow
              ? "border-indigo-300 bg-indigo-50 text-indigo-700 dark:border-indigo-500/40 dark:bg-indigo-500/10 dark:text-indigo-300"
              : "border-zinc-300 text-zinc-700 dark:border-zinc-700 dark:text-zinc-300",
          )}
        >
          <input type="checkbox" data-testid="logs-follow" className="size-3.5 accent-indigo-600" checked={opts.follow} onChange={(e) => setOpts((o) => ({ ...o, follow: e.target.checked }))} />
          {opts.follow ? <Pause className="size-3.5" /> : <Play className="size-3.5" />}
          Follow
        </label>
        <Button size="sm" variant="ghost" aria-label="Clear the screen" data-testid="logs-clear" onClick={() => setRows([])}>
          <Eraser className="size-4" />
        </Button>
        <Button size="sm" variant="ghost" aria-label="Reload the logs" data-testid="logs-reload" onClick={() => setEpoch((n) => n + 1)}>
          <RefreshCw className="size-4" />
        </Button>
        <div className="flex-1" />
        <span className="text-xs text-zinc-500" data-testid="logs-status">
          {rows.length} lines{dropped > 0 && ` (${dropped} older dropped)`}
          {grep !== opts.grep.trim() ? " · filtering…" : end ? (end.error ? " · stream broke" : " · end of stream") : opts.follow ? " · following" : " · loading"}
        </span>
      </div>
      {end?.error && <ErrorAlert error={end.error} title="The log stream broke" testId="logs-error" onRetry={() => setEpoch((n) => n + 1)} />}
      <div
        ref={box}
        data-testid="logs-output"
        onScroll={onScroll}
        className="h-[32rem] overflow-auto rounded-xl border border-zinc-200 bg-zinc-50 py-1 font-mono text-xs leading-5 dark:border-zinc-800 dark:bg-zinc-950"
      >
        {rows.length === 0 && <p className="px-3 py-2 text-zinc-500">{end ? "No log lines." : "Waiting for log lines…"}</p>}
        {rows.map(({ n, line }) => (
          <LogRow key={n} line={line} highlight={highlight} />
        ))}
      </div>
    </div>
  );
}

// Memoised: a new batch of lines renders only the new rows.
const LogRow = memo(function LogRow({ line, highlight }: { line: AppLogLine; highlight: RegExp | null }) {
  return (
    <div
      data-stream={line.stream}
      data-service={line.service}
      className={cx("flex gap-3 px-3", line.stream === "stderr" ? "bg-red-50 text-red-800 dark:bg-red-950/30 dark:text-red-300" : "hover:bg-zinc-100 dark:hover:bg-zinc-900")}
    >
      <span className={cx("w-24 shrink-0 truncate select-none", colorOf(line.service))} title={line.container}>
        {line.service}
      </span>
      <span className="min-w-0 break-all whitespace-pre-wrap">{mark(line.text, highlight)}</span>
    </div>
  );
});

function mark(text: string, re: RegExp | null) {
  if (!re) return text;
  const out: ReactNode[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === "") {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(
      <mark key={m.index} className="rounded-sm bg-yellow-200 text-inherit dark:bg-yellow-500/30">
        {m[0]}
      </mark>,
    );
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
