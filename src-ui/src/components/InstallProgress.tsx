// The progress of an install or an upgrade of the agent: its steps, the
// newest one running, and the agent image's upload.
import { CircleCheck, CircleX, LoaderCircle } from "lucide-react";
import { fmtBytes } from "../lib/format";
import { cx, Spinner } from "./ui";

/** How much of the agent image was sent. */
export interface UploadProgress {
  sent: number;
  total: number;
}

export function InstallProgressView({
  title,
  steps,
  upload,
  running,
  failed,
  testIdPrefix,
}: {
  /** The section's heading, e.g. "Installing". */
  title: string;
  steps: string[];
  upload: UploadProgress | null;
  /** Still going: the newest step is the one running. */
  running: boolean;
  /** Ended in failure: the newest step is the one that failed. */
  failed: boolean;
  /** Prefix of the test ids: `install` gives install-steps, install-upload and install-upload-text. */
  testIdPrefix: string;
}) {
  const pct = upload && upload.total > 0 ? Math.min(100, Math.round((upload.sent / upload.total) * 100)) : 0;
  return (
    <section className="space-y-2">
      <h3 className="text-[13px] font-semibold">{title}</h3>
      {running && steps.length === 0 && !upload && <Spinner label="Connecting…" />}
      {steps.length > 0 && (
        <ol data-testid={`${testIdPrefix}-steps`} className="space-y-1 text-sm">
          {steps.map((s, i) => {
            const last = i === steps.length - 1;
            const state = !last ? "done" : running ? "running" : failed ? "failed" : "done";
            return (
              <li key={i} data-state={state} aria-current={state === "running" ? "step" : undefined} className="flex items-start gap-2">
                {state === "running" ? (
                  <LoaderCircle className="mt-0.5 size-4 shrink-0 animate-spin text-indigo-500" aria-label="in progress" />
                ) : state === "failed" ? (
                  <CircleX className="mt-0.5 size-4 shrink-0 text-red-600 dark:text-red-400" aria-label="failed" />
                ) : (
                  <CircleCheck className="mt-0.5 size-4 shrink-0 text-emerald-600 dark:text-emerald-400" aria-label="done" />
                )}
                <span className={cx(state === "running" ? "text-zinc-900 dark:text-zinc-100" : "text-zinc-600 dark:text-zinc-400")}>{s}</span>
              </li>
            );
          })}
        </ol>
      )}
      {upload && (
        <div className="space-y-1">
          <p data-testid={`${testIdPrefix}-upload-text`} className="text-xs text-zinc-600 dark:text-zinc-400">
            Sending the agent image: {fmtBytes(upload.sent)} of {fmtBytes(upload.total)}
          </p>
          <div
            role="progressbar"
            data-testid={`${testIdPrefix}-upload`}
            aria-label="Sending the agent image"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
            className="h-1.5 overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800"
          >
            <div className="h-full rounded-full bg-indigo-500 transition-[width] duration-300" style={{ width: `${pct}%` }} />
          </div>
        </div>
      )}
    </section>
  );
}
