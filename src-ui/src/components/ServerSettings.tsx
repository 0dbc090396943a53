// The server's settings. Access: the agent's API tokens, active ones first.
import { KeyRound, RefreshCw } from "lucide-react";
import type { TokenInfo } from "../api/calls.gen";
import { fmtAgo, fmtTime } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { useServer } from "../lib/server";
import { Badge, Button, cx, EmptyState, ErrorAlert, LoadingBlock } from "./ui";

export function ServerSettings() {
  return (
    <div>
      <h2 className="mb-4 text-lg font-semibold tracking-tight">Settings</h2>
      <AccessSection />
    </div>
  );
}

function AccessSection() {
  const { backend, server } = useServer();
  const list = useLoad(() => backend.call(server, { call: "list_tokens", args: {} }), [backend, server]);
  // Active tokens first, revoked ones after; each in the agent's order (oldest first).
  const rows = list.data ? [...list.data].sort((a, b) => Number(a.revoked_at !== null) - Number(b.revoked_at !== null)) : null;
  return (
    <section data-testid="settings-access">
      <div className="mb-1 flex items-center gap-3">
        <h3 className="text-[15px] font-semibold">Access</h3>
        {rows && <span className="text-xs text-zinc-500">{rows.length === 1 ? "1 token" : `${rows.length} tokens`}</span>}
        <div className="flex-1" />
        <Button size="sm" variant="ghost" aria-label="Reload tokens" data-testid="tokens-reload" onClick={() => void list.reload()}>
          <RefreshCw className={cx("size-4", list.loading && "animate-spin")} />
        </Button>
      </div>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400" data-testid="tokens-help">
        Tokens are issued over SSH when a computer is added, and their secrets are never shown. To revoke one, run{" "}
        <code className="font-mono text-xs">appos-agent token revoke NAME</code> on the server.
      </p>
      {list.error && <ErrorAlert className="mb-3" error={list.error} testId="tokens-error" onRetry={() => void list.reload()} />}
      {rows === null ? (
        !list.error && <LoadingBlock label="Loading tokens…" />
      ) : rows.length === 0 ? (
        <EmptyState icon={<KeyRound className="size-10" />} title="No tokens">
          Adding this server on a computer issues one.
        </EmptyState>
      ) : (
        <TokensTable rows={rows} />
      )}
    </section>
  );
}

function TokensTable({ rows }: { rows: TokenInfo[] }) {
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-sm" data-testid="tokens-table">
        <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
          <tr>
            <th className="px-4 py-2">Name</th>
            <th className="px-4 py-2">Scope</th>
            <th className="px-4 py-2">Created</th>
            <th className="px-4 py-2">Last used</th>
            <th className="px-4 py-2">Status</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
          {rows.map((t) => (
            <tr key={t.name} data-testid={`token-row-${t.name}`} data-revoked={t.revoked_at !== null} className={cx(t.revoked_at !== null && "opacity-60")}>
              <td className="px-4 py-2 font-mono text-[13px] font-medium">{t.name}</td>
              <td className="px-4 py-2">
                <Badge tone={t.scope === "admin" ? "indigo" : "zinc"} data-testid={`token-scope-${t.name}`}>
                  {t.scope}
                </Badge>
              </td>
              <td className="px-4 py-2 text-zinc-600 dark:text-zinc-400" title={fmtTime(t.created_at * 1000)}>
                {fmtAgo(t.created_at * 1000)}
              </td>
              <td className="px-4 py-2 text-zinc-600 dark:text-zinc-400" title={t.last_used_at === null ? undefined : fmtTime(t.last_used_at * 1000)}>
                {t.last_used_at === null ? "never" : fmtAgo(t.last_used_at * 1000)}
              </td>
              <td className="px-4 py-2">
                {t.revoked_at !== null && (
                  <Badge tone="red" data-testid={`token-revoked-${t.name}`}>
                    revoked {fmtTime(t.revoked_at * 1000)}
                  </Badge>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
