// An app's versions: who saved what when, a side-by-side diff of any two,
// and rollback (optionally pinned to the image digests a version ran with).
import { Fragment, useMemo, useRef, useState } from "react";
import { GitCompare, History as HistoryIcon, Undo2 } from "lucide-react";
import { toUiError } from "../api/backend";
import type { UiError } from "../api/desktop.gen";
import type { AppVersion } from "../api/types.gen";
import { fmtAgo, fmtTime } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { useServer } from "../lib/server";
import { sideBySide } from "../lib/sidebyside";
import { described, HostAccessList, useHostAccessConsent } from "./HostAccess";
import { Badge, Button, Checkbox, cx, Dialog, EmptyState, ErrorAlert, LoadingBlock, Select } from "./ui";

export function History({ app }: { app: string }) {
  const { backend, server, nav } = useServer();
  const list = useLoad(() => backend.call(server, { call: "list_versions", args: { app } }), [backend, server, app]);
  const versions = useMemo(() => (list.data ? [...list.data].sort((a, b) => b.version - a.version) : null), [list.data]);
  const newest = versions?.[0]?.version ?? null;

  // The user's picks; by default the previous version against the newest.
  const [fromPick, setFrom] = useState<number | null>(null);
  const [toPick, setTo] = useState<number | null>(null);
  const from = fromPick ?? (versions ? (versions[1] ?? versions[0])?.version ?? null : null);
  const to = toPick ?? newest;

  const [rollback, setRollback] = useState<AppVersion | null>(null);
  const [pin, setPin] = useState(false);
  const [busy, setBusy] = useState(false);
  const [rbError, setRbError] = useState<UiError | null>(null);
  const [rbDone, setRbDone] = useState<number | null>(null);
  const consent = useHostAccessConsent();

  async function doRollback() {
    if (!rollback) return;
    setBusy(true);
    setRbError(null);
    try {
      // The target's compose file is checked as it would be deployed now.
      const target = await backend.call(server, { call: "get_version", args: { app, version: rollback.version } });
      const allow = await consent.ask({ name: app, compose: target.compose, catalog: null, files: null, env: null }, "deploy");
      if (allow === null) {
        setRollback(null);
        return;
      }
      const request = { version: rollback.version, pin_digests: pin && Object.keys(rollback.digests).length > 0, allow_host_access: allow };
      const r = await backend.call(server, { call: "rollback_app", args: { app, request } });
      setRollback(null);
      if (r.deployment_id) nav.go({ view: "deployment", id: r.deployment_id });
      else {
        setRbDone(r.version);
        void list.reload();
      }
    } catch (e) {
      setRbError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  if (list.error && !versions) return <ErrorAlert error={list.error} title="Could not list versions" testId="history-error" onRetry={() => void list.reload()} />;
  if (!versions) return <LoadingBlock label="Loading versions…" />;
  if (versions.length === 0)
    return (
      <EmptyState icon={<HistoryIcon className="size-10" />} title="No versions">
        Saving a compose file records a version here.
      </EmptyState>
    );

  return (
    <div className="space-y-5" data-testid="history">
      {rbDone !== null && <p className="text-[13px] text-emerald-700 dark:text-emerald-400">Rolled back as version {rbDone}.</p>}
      <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
        <table className="w-full text-sm" data-testid="versions-table">
          <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
            <tr>
              <th className="px-3 py-2">Version</th>
              <th className="px-3 py-2">Message</th>
              <th className="px-3 py-2">Author</th>
              <th className="px-3 py-2">Saved</th>
              <th className="px-3 py-2">Digests</th>
              <th className="px-3 py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
            {versions.map((v) => {
              const digests = Object.keys(v.digests).length;
              return (
                <Fragment key={v.version}>
                  <tr
                    data-testid={`version-row-${v.version}`}
                    className={cx((v.version === from || v.version === to) && "bg-indigo-50/40 dark:bg-indigo-500/5", v.host_access.length > 0 && "border-b-0")}
                  >
                    <td className="px-3 py-2 font-medium tabular-nums">
                      v{v.version} {v.version === newest && <Badge tone="indigo">newest</Badge>}
                    </td>
                    <td className="max-w-80 truncate px-3 py-2 text-zinc-700 dark:text-zinc-300" title={v.message}>
                      {v.message || <span className="text-zinc-400">—</span>}
                    </td>
                    <td className="px-3 py-2 text-zinc-600 dark:text-zinc-400">{v.author}</td>
                    <td className="px-3 py-2 text-zinc-600 dark:text-zinc-400" title={fmtTime(v.created_at * 1000)}>
                      {fmtAgo(v.created_at * 1000)}
                    </td>
                    <td className="px-3 py-2 text-zinc-600 tabular-nums dark:text-zinc-400" title={Object.entries(v.digests).map(([s, d]) => `${s}: ${d}`).join("\n")}>
                      {digests || "—"}
                    </td>
                    <td className="px-3 py-2 text-right whitespace-nowrap">
                      {v.version !== newest && (
                        <Button size="sm" variant="ghost" data-testid={`version-compare-${v.version}`} onClick={() => { setFrom(v.version); setTo(newest); }} title="Compare this version with the newest">
                          <GitCompare className="size-4" /> Compare
                        </Button>
                      )}
                      {v.version !== newest && (
                        <Button
                          size="sm"
                          variant="secondary"
                          data-testid={`version-rollback-${v.version}`}
                          onClick={() => {
                            setPin(false);
                            setRbError(null);
                            setRollback(v);
                          }}
                        >
                          <Undo2 className="size-4" /> Roll back
                        </Button>
                      )}
                    </td>
                  </tr>
                  {v.host_access.length > 0 && (
                    <tr data-testid={`version-access-${v.version}`} className={cx((v.version === from || v.version === to) && "bg-indigo-50/40 dark:bg-indigo-500/5")}>
                      <td />
                      <td colSpan={5} className="px-3 pt-0 pb-2">
                        <p className="mb-1 text-[11px] font-semibold tracking-wide text-amber-700 uppercase dark:text-amber-400">Granted access to the server</p>
                        <HostAccessList items={described(v.host_access)} compact />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      </div>

      <section>
        <div className="mb-2 flex flex-wrap items-center gap-2 text-[13px]">
          <h3 className="font-semibold">Compare</h3>
          <Select data-testid="diff-from" aria-label="Old version" value={from ?? ""} onChange={(e) => setFrom(Number(e.target.value))}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
          </Select>
          <span className="text-zinc-400">→</span>
          <Select data-testid="diff-to" aria-label="New version" value={to ?? ""} onChange={(e) => setTo(Number(e.target.value))}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
          </Select>
        </div>
        {from !== null && to !== null && <VersionDiff app={app} from={from} to={to} />}
      </section>

      <Dialog
        open={!!rollback && !consent.asking}
        onClose={() => setRollback(null)}
        title={`Roll back ${app} to version ${rollback?.version}?`}
        testId="rollback-dialog"
        description={`Version ${rollback?.version}'s compose file is saved as a new version and deployed. Nothing in the history is lost.`}
        footer={
          <>
            <Button variant="ghost" onClick={() => setRollback(null)}>
              Cancel
            </Button>
            <Button variant="primary" busy={busy} data-testid="rollback-confirm" onClick={() => void doRollback()}>
              <Undo2 className="size-4" /> Roll back
            </Button>
          </>
        }
      >
        {rollback && (
          <div className="space-y-2">
            <Checkbox
              data-testid="rollback-pin"
              checked={pin}
              disabled={Object.keys(rollback.digests).length === 0}
              onChange={(e) => setPin(e.target.checked)}
              label="Pin images to the digests this version ran with"
            />
            {Object.keys(rollback.digests).length === 0 ? (
              <p className="pl-6 text-xs text-zinc-500">This version never ran, so no digests were recorded: its tags are pulled as they are now.</p>
            ) : (
              <ul className="space-y-0.5 pl-6 font-mono text-[11px] text-zinc-500">
                {Object.entries(rollback.digests).map(([s, d]) => (
                  <li key={s} className="truncate" title={d}>
                    {s}: {d}
                  </li>
                ))}
              </ul>
            )}
            {rbError && <ErrorAlert error={rbError} title="Could not roll back" testId="rollback-error" />}
          </div>
        )}
      </Dialog>
      {consent.dialog}
    </div>
  );
}

function VersionDiff({ app, from, to }: { app: string; from: number; to: number }) {
  const { backend, server } = useServer();
  const cache = useRef(new Map<number, Promise<string>>());
  const get = (v: number) => {
    let p = cache.current.get(v);
    if (!p) {
      p = backend.call(server, { call: "get_version", args: { app, version: v } }).then((d) => d.compose);
      p.catch(() => cache.current.delete(v));
      cache.current.set(v, p);
    }
    return p;
  };
  const texts = useLoad(() => Promise.all([get(from), get(to)]), [from, to]);
  const rows = useMemo(() => (texts.data ? sideBySide(texts.data[0], texts.data[1]) : null), [texts.data]);
  if (texts.error) return <ErrorAlert error={texts.error} title="Could not load the versions to compare" testId="diff-error" onRetry={() => void texts.reload()} />;
  if (!rows || texts.loading) return <LoadingBlock label="Loading both versions…" rows={4} rowClass="h-5" />;
  const changes = rows.filter((r) => r.kind === "change");
  return (
    <div data-testid="diff-view" className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <div className="grid grid-cols-2 border-b border-zinc-200 bg-zinc-50 text-xs font-medium text-zinc-500 dark:border-zinc-800 dark:bg-zinc-900">
        <div className="px-3 py-1.5">v{from}</div>
        <div className="border-l border-zinc-200 px-3 py-1.5 dark:border-zinc-800">
          v{to}
          <span className="ml-2 font-normal">
            <span className="text-red-600">−{changes.filter((r) => r.left).length}</span> <span className="text-emerald-600">+{changes.filter((r) => r.right).length}</span>
          </span>
        </div>
      </div>
      {from === to || changes.length === 0 ? (
        <p className="px-3 py-3 text-[13px] text-zinc-500" data-testid="diff-same">
          {from === to ? "Pick two different versions." : "The compose files are identical."}
        </p>
      ) : null}
      <div className="max-h-[32rem] overflow-auto font-mono text-xs leading-5">
        <table className="w-full table-fixed border-collapse">
          <colgroup>
            <col className="w-10" />
            <col />
            <col className="w-10" />
            <col />
          </colgroup>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                <td className={cx("px-2 text-right text-zinc-400 select-none", r.kind === "change" && r.left && "bg-red-100/70 dark:bg-red-950/50")}>{r.left?.n ?? ""}</td>
                <td
                  data-kind={r.left ? (r.kind === "change" ? "removed" : "same") : "empty"}
                  className={cx("px-2 break-all whitespace-pre-wrap", r.kind === "change" && (r.left ? "bg-red-50 text-red-900 dark:bg-red-950/30 dark:text-red-200" : "bg-zinc-50 dark:bg-zinc-900/40"))}
                >
                  {r.left?.text ?? ""}
                </td>
                <td className={cx("border-l border-zinc-200 px-2 text-right text-zinc-400 select-none dark:border-zinc-800", r.kind === "change" && r.right && "bg-emerald-100/70 dark:bg-emerald-950/50")}>
                  {r.right?.n ?? ""}
                </td>
                <td
                  data-kind={r.right ? (r.kind === "change" ? "added" : "same") : "empty"}
                  className={cx("px-2 break-all whitespace-pre-wrap", r.kind === "change" && (r.right ? "bg-emerald-50 text-emerald-900 dark:bg-emerald-950/30 dark:text-emerald-200" : "bg-zinc-50 dark:bg-zinc-900/40"))}
                >
                  {r.right?.text ?? ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
