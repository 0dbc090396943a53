// An app's activity: the agent's audit log for it, newest first, with the
// host access each change granted; older entries a page at a time.
import { useState } from "react";
import { ScrollText } from "lucide-react";
import { toUiError } from "../api/backend";
import type { UiError } from "../api/desktop.gen";
import type { AuditEntry } from "../api/types.gen";
import { fmtAgo, fmtTime } from "../lib/format";
import { useDebounced, useLoad } from "../lib/hooks";
import { useServer, useServerEvents } from "../lib/server";
import { described, HostAccessList } from "./HostAccess";
import { Button, ErrorAlert, LoadingBlock } from "./ui";

/** Entries per page. */
export const AUDIT_PAGE = 25;

export function AppActivity({ app }: { app: string }) {
  const { backend, server } = useServer();
  const page = (before: number | null) => backend.call(server, { call: "list_audit", args: { app, before, limit: AUDIT_PAGE } });
  const first = useLoad(() => page(null), [backend, server, app]);
  const refreshSoon = useDebounced(() => void first.reload(), 300);
  useServerEvents((e) => {
    if (e.app === app && e.kind === "deployment") refreshSoon();
  });
  const [older, setOlder] = useState<{ entries: AuditEntry[]; more: boolean }>({ entries: [], more: true });
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [olderError, setOlderError] = useState<UiError | null>(null);

  const entries = first.data ? [...first.data, ...older.entries.filter((o) => !first.data!.some((f) => f.id === o.id))] : null;
  const more = !!first.data && first.data.length >= AUDIT_PAGE && older.more;

  async function loadOlder() {
    if (!entries?.length) return;
    setLoadingOlder(true);
    setOlderError(null);
    try {
      const next = await page(Math.min(...entries.map((e) => e.id)));
      setOlder((o) => ({ entries: [...o.entries, ...next], more: next.length >= AUDIT_PAGE }));
    } catch (e) {
      setOlderError(toUiError(e));
    } finally {
      setLoadingOlder(false);
    }
  }

  return (
    <section data-testid="app-activity">
      <h3 className="mb-2 flex items-center gap-2 text-[13px] font-semibold">
        <ScrollText className="size-4 text-zinc-400" /> Activity
      </h3>
      {first.error && !first.data ? (
        <ErrorAlert error={first.error} title="Could not read the activity" testId="app-activity-error" onRetry={() => void first.reload()} />
      ) : !entries ? (
        <LoadingBlock label="Loading the activity…" rows={2} rowClass="h-6" />
      ) : entries.length === 0 ? (
        <p className="text-sm text-zinc-500">Nothing recorded for this app yet.</p>
      ) : (
        <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
          <table className="w-full text-sm" data-testid="app-activity-table">
            <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
              <tr>
                <th className="px-3 py-2">When</th>
                <th className="px-3 py-2">Who</th>
                <th className="px-3 py-2">What</th>
                <th className="px-3 py-2">Detail</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {entries.map((e) => (
                <tr key={e.id} data-testid={`audit-${e.id}`} className="align-top">
                  <td className="px-3 py-2 whitespace-nowrap text-zinc-600 dark:text-zinc-400" title={fmtTime(e.at * 1000)}>
                    {fmtAgo(e.at * 1000)}
                  </td>
                  <td className="px-3 py-2 text-zinc-700 dark:text-zinc-300">{e.actor}</td>
                  <td className="px-3 py-2 font-mono text-xs whitespace-nowrap">{e.action}</td>
                  <td className="px-3 py-2 text-zinc-700 dark:text-zinc-300">
                    {e.detail && <p className="break-words">{e.detail}</p>}
                    {e.host_access.length > 0 && (
                      <div className="mt-1">
                        <p className="mb-0.5 text-[11px] font-semibold tracking-wide text-amber-700 uppercase dark:text-amber-400">Granted access to the server</p>
                        <HostAccessList items={described(e.host_access)} compact />
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {olderError && <ErrorAlert className="mt-2" error={olderError} title="Could not read older entries" onRetry={() => void loadOlder()} />}
      {more && (
        <Button size="sm" variant="ghost" className="mt-2" busy={loadingOlder} data-testid="app-activity-older" onClick={() => void loadOlder()}>
          Show older
        </Button>
      )}
    </section>
  );
}
