// Host access on screen: the list of capabilities in plain words, and the
// consent asked before a deploy, save or rollback that needs more than the
// app holds. One hook serves every place that sends a compose file.
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { ShieldAlert } from "lucide-react";
import type { AppVersion, ComposeCheckRequest, HostAccess, HostAccessNeed } from "../api/types.gen";
import { useDebounced, useLoad } from "../lib/hooks";
import { describeHostAccess, hostAccessKey, isRootAccess, newHostAccess } from "../lib/hostaccess";
import { useServer, useServerEvents } from "../lib/server";
import { Button, cx, Dialog, ErrorAlert, LoadingBlock } from "./ui";

export interface HostAccessItem {
  access: HostAccess;
  description: string;
}

/** Granted access (from a version or the audit log) with the frontend's words for it. */
export function described(grants: HostAccess[]): HostAccessItem[] {
  return grants.map((access) => ({ access, description: describeHostAccess(access) }));
}

/** Capabilities in plain words; those that are root on the server say so. */
export function HostAccessList({ items, compact, testId, className }: { items: HostAccessItem[]; compact?: boolean; testId?: string; className?: string }) {
  return (
    <ul className={cx(compact ? "space-y-0.5 text-xs" : "space-y-2 text-sm", className)} data-testid={testId}>
      {items.map(({ access, description }) => (
        <li key={hostAccessKey(access)} className="flex items-start gap-2" data-testid="host-access-item" data-kind={access.kind}>
          <ShieldAlert className={cx("shrink-0 text-amber-500", compact ? "mt-px size-3.5" : "mt-0.5 size-4")} aria-hidden />
          <div className="min-w-0">
            <p className="break-words text-zinc-800 dark:text-zinc-200">{description}</p>
            {isRootAccess(access) && (
              <p className="mt-0.5 text-xs font-medium text-red-700 dark:text-red-400" data-testid="host-access-root">
                This is root on the server: the app can take over the whole server, its other apps and their data.
              </p>
            )}
          </div>
        </li>
      ))}
    </ul>
  );
}

export type ConsentAction = "deploy" | "save";

interface Pending {
  app: string;
  needs: HostAccessNeed[];
  action: ConsentAction;
  resolve: (allow: HostAccess[] | null) => void;
}

/**
 * Asks the agent what a compose file (or catalog template) reaches on the
 * server and, when it needs access the app does not hold yet, asks the user.
 * `ask` resolves to the exact `allow_host_access` to send (empty when
 * nothing new is needed), or to null when the user cancelled; it rejects
 * when the check fails. Render `dialog` somewhere in the component.
 */
export function useHostAccessConsent() {
  const { backend, server } = useServer();
  const [pending, setPending] = useState<Pending | null>(null);
  const current = useRef<Pending | null>(null);

  const settle = useCallback((allow: boolean) => {
    const p = current.current;
    if (!p) return;
    current.current = null;
    setPending(null);
    p.resolve(allow ? p.needs.map((n) => n.access) : null);
  }, []);
  // Unmounted while asking: the caller hears a cancel.
  useEffect(() => () => settle(false), [settle]);

  const ask = useCallback(
    async (req: ComposeCheckRequest, action: ConsentAction): Promise<HostAccess[] | null> => {
      const check = await backend.call(server, { call: "check_compose", args: req });
      const needs = newHostAccess(check);
      if (needs.length === 0) return [];
      return new Promise((resolve) => {
        current.current?.resolve(null);
        current.current = { app: req.name, needs, action, resolve };
        setPending(current.current);
      });
    },
    [backend, server],
  );

  const dialog: ReactNode = (
    <HostAccessConsentDialog
      open={!!pending}
      app={pending?.app ?? ""}
      needs={pending?.needs ?? []}
      action={pending?.action ?? "deploy"}
      onAllow={() => settle(true)}
      onCancel={() => settle(false)}
    />
  );
  return { ask, dialog, asking: !!pending };
}

export function HostAccessConsentDialog({
  open,
  app,
  needs,
  action,
  onAllow,
  onCancel,
}: {
  open: boolean;
  app: string;
  needs: HostAccessNeed[];
  action: ConsentAction;
  onAllow: () => void;
  onCancel: () => void;
}) {
  const root = needs.some((n) => isRootAccess(n.access));
  return (
    <Dialog
      open={open}
      onClose={onCancel}
      tone="warning"
      title="This app needs access to the server"
      testId="host-access-dialog"
      description={
        <>
          <b className="font-mono text-zinc-800 dark:text-zinc-200">{app}</b> asks for more than its own folder and volumes. Allow this only if you trust its compose file:
        </>
      }
      footer={
        <>
          <Button type="button" variant="secondary" autoFocus data-testid="host-access-cancel" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="button" variant={root ? "danger" : "primary"} data-testid="host-access-allow" onClick={onAllow}>
            {action === "save" ? "Allow and save" : "Allow and deploy"}
          </Button>
        </>
      }
    >
      <div className="rounded-lg border border-amber-300 bg-amber-50 px-3 py-2.5 dark:border-amber-700/60 dark:bg-amber-950/30">
        <HostAccessList items={needs} testId="host-access-needs" />
      </div>
      <p className="mt-3 text-xs text-zinc-500 dark:text-zinc-400">The grant is recorded with the new version; later versions that need no more than this do not ask again.</p>
    </Dialog>
  );
}

/** An app's page: the host access its newest version was granted. */
export function AppHostAccess({ app }: { app: string }) {
  const { backend, server } = useServer();
  const list = useLoad(() => backend.call(server, { call: "list_versions", args: { app } }), [backend, server, app]);
  // A save, rollback or install records a new version with its grant.
  const refreshSoon = useDebounced(() => void list.reload(), 300);
  useServerEvents((e) => {
    if (e.app === app && e.kind === "deployment") refreshSoon();
  });
  const newest = list.data?.reduce<AppVersion | null>((a, b) => (!a || b.version > a.version ? b : a), null);
  return (
    <section data-testid="app-host-access">
      <h3 className="mb-2 flex items-center gap-2 text-[13px] font-semibold">
        <ShieldAlert className="size-4 text-zinc-400" /> Host access
        {newest && <span className="font-normal text-zinc-500">granted to version {newest.version}</span>}
      </h3>
      {list.error && !list.data ? (
        <ErrorAlert error={list.error} title="Could not read the app's versions" testId="app-host-access-error" onRetry={() => void list.reload()} />
      ) : !list.data ? (
        <LoadingBlock label="Loading…" rows={1} rowClass="h-5" />
      ) : newest && newest.host_access.length > 0 ? (
        <div className="rounded-lg border border-amber-300 bg-amber-50 px-3 py-2.5 dark:border-amber-700/60 dark:bg-amber-950/30">
          <HostAccessList items={described(newest.host_access)} />
        </div>
      ) : (
        <p className="text-sm text-zinc-500" data-testid="app-host-access-none">
          None: this app reaches only its own folder and volumes.
        </p>
      )}
    </section>
  );
}
