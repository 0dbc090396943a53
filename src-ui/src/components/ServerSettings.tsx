// The server's settings. Agent: its version against this computer's, and
// the upgrade of an SSH server's agent to this computer's. Access: the
// agent's API tokens, active ones first.
import { useRef, useState } from "react";
import { ArrowUpCircle, CircleCheck, KeyRound, RefreshCw } from "lucide-react";
import { toUiError } from "../api/backend";
import type { TokenInfo } from "../api/calls.gen";
import type { Connection, UiError } from "../api/desktop.gen";
import { fmtAgo, fmtTime } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { useServer } from "../lib/server";
import { compareVersions } from "../lib/version";
import { InstallProgressView, type UploadProgress } from "./InstallProgress";
import { Badge, Button, cx, Dialog, EmptyState, ErrorAlert, LoadingBlock } from "./ui";

export function ServerSettings({
  conn,
  local,
  onConnection,
}: {
  conn: Connection;
  /** This computer: its agent comes with the app. */
  local: boolean;
  /** The connection to a new agent, after an upgrade. */
  onConnection: (c: Connection) => void;
}) {
  return (
    <div>
      <h2 className="mb-4 text-lg font-semibold tracking-tight">Settings</h2>
      <div className="space-y-8">
        <AgentSection conn={conn} local={local} onConnection={onConnection} />
        <AccessSection />
      </div>
    </div>
  );
}

function AgentSection({ conn, local, onConnection }: { conn: Connection; local: boolean; onConnection: (c: Connection) => void }) {
  const { backend } = useServer();
  const desktop = useLoad(() => backend.desktopVersion(), [backend]);
  const [upgrading, setUpgrading] = useState(false);
  const agent = conn.info.agent_version;
  const mine = desktop.data;
  const older = mine !== null && compareVersions(agent, mine) < 0;
  return (
    <section data-testid="agent-section">
      <h3 className="mb-3 text-[15px] font-semibold">Agent</h3>
      <div className="flex items-center gap-4 rounded-xl border border-zinc-200 px-4 py-3 dark:border-zinc-800">
        <div className="min-w-0 flex-1 space-y-0.5">
          <p className="text-sm font-medium" data-testid="agent-version">
            AppOS agent {agent}
          </p>
          {mine !== null && (
            <p className="text-sm text-zinc-500 dark:text-zinc-400" data-testid="desktop-version">
              This computer has {mine}
            </p>
          )}
          {desktop.error && (
            <p className="text-sm text-zinc-500 dark:text-zinc-400" data-testid="desktop-version-error">
              This computer's version is unknown: {desktop.error.message}
            </p>
          )}
          {local && (
            <p className="text-sm text-zinc-500 dark:text-zinc-400" data-testid="agent-local">
              This computer's agent comes with this app: it is updated with AppOS.
            </p>
          )}
        </div>
        {!local && mine !== null &&
          (older ? (
            <Button variant="primary" size="sm" data-testid="agent-upgrade" onClick={() => setUpgrading(true)}>
              <ArrowUpCircle className="size-4" aria-hidden />
              Upgrade to {mine}
            </Button>
          ) : (
            <Badge tone="green" data-testid="agent-up-to-date">
              <CircleCheck className="size-3.5" aria-hidden />
              Up to date
            </Badge>
          ))}
      </div>
      {!local && mine !== null && (
        <UpgradeDialog open={upgrading} from={agent} to={mine} onClose={() => setUpgrading(false)} onConnection={onConnection} />
      )}
    </section>
  );
}

/** The dialog's state; `from` is the agent's version when the upgrade began. */
type Upgrade = { state: "confirm" } | { state: "running"; from: string } | { state: "done"; from: string; version: string } | { state: "failed"; from: string; error: UiError };

/** Confirms the upgrade, then shows its progress and how it ended. */
function UpgradeDialog({
  open,
  from,
  to,
  onClose,
  onConnection,
}: {
  open: boolean;
  from: string;
  to: string;
  onClose: () => void;
  onConnection: (c: Connection) => void;
}) {
  const { backend, server } = useServer();
  const [u, setU] = useState<Upgrade>({ state: "confirm" });
  const [steps, setSteps] = useState<string[]>([]);
  const [upload, setUpload] = useState<UploadProgress | null>(null);
  // Bumped by every upgrade and close: reports of an older one are dropped.
  const run = useRef(0);
  const running = u.state === "running";

  function close() {
    // An upgrade runs to its end on the server: the dialog waits for it.
    if (running) return;
    run.current++;
    setU({ state: "confirm" });
    setSteps([]);
    setUpload(null);
    onClose();
  }

  async function start() {
    const me = ++run.current;
    setU({ state: "running", from });
    setSteps([]);
    setUpload(null);
    try {
      const c = await backend.upgradeServer(server, (p) => {
        if (me !== run.current) return;
        if (p.type === "upload") setUpload({ sent: p.sent, total: p.total });
        else if (p.type === "step") setSteps((s) => [...s, p.message]);
      });
      if (me !== run.current) return;
      setU({ state: "done", from, version: c.info.agent_version });
      onConnection(c);
    } catch (e) {
      if (me !== run.current) return;
      setU({ state: "failed", from, error: toUiError(e) });
    }
  }

  return (
    <Dialog
      open={open}
      onClose={close}
      wide
      title={`Upgrade the agent on ${server}`}
      testId="upgrade-dialog"
      description={
        <>
          AppOS replaces the agent on <b>{server}</b> ({u.state === "confirm" ? from : u.from}) with this computer's ({to}), sending its image when the server lacks it.
        </>
      }
      footer={
        u.state === "confirm" || u.state === "running" ? (
          <>
            <Button variant="ghost" disabled={running} onClick={close}>
              Cancel
            </Button>
            <Button variant="primary" busy={running} data-testid="upgrade-confirm" onClick={() => void start()}>
              {running ? "Upgrading…" : `Upgrade to ${to}`}
            </Button>
          </>
        ) : (
          <Button data-testid="upgrade-close" onClick={close}>
            Close
          </Button>
        )
      }
    >
      <div className="space-y-4">
        <ul data-testid="upgrade-explain" className="list-disc space-y-1 pl-5 text-sm text-zinc-700 dark:text-zinc-300">
          <li>Your apps keep running.</li>
          <li>A task that is running gets a few seconds to end; if it does not, it goes back to the queue and the new agent runs it.</li>
          <li>If the new agent does not answer, the old one runs again.</li>
        </ul>
        {u.state !== "confirm" && (
          <InstallProgressView title="Upgrading" steps={steps} upload={upload} running={running} failed={u.state === "failed"} testIdPrefix="upgrade" />
        )}
        {u.state === "done" && (
          <p data-testid="upgrade-done" className="flex items-center gap-2 text-sm font-medium text-emerald-700 dark:text-emerald-400">
            <CircleCheck className="size-4" aria-hidden />
            Upgraded to {u.version}
          </p>
        )}
        {u.state === "failed" && <ErrorAlert error={u.error} testId="upgrade-error" />}
      </div>
    </Dialog>
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
