import { useCallback, useEffect, useState } from "react";
import { Server } from "lucide-react";
import type { Backend } from "./api/backend";
import type { ServerEntry, UiError } from "./api/desktop.gen";
import { AddServerDialog } from "./components/AddServerDialog";
import { AlertWatch } from "./components/AlertWatch";
import { ServerView } from "./components/ServerView";
import { Sidebar, type ServerStatus } from "./components/Sidebar";
import { EmptyState } from "./components/ui";
import { closeTerminals } from "./components/terminal/manager";
import { sameCertAlerts, type CertAlerts } from "./lib/domains";
import { newSession, SessionProvider, type Session } from "./lib/session";

export function App({ backend, session: given }: { backend: Backend; session?: Session }) {
  const [servers, setServers] = useState<ServerEntry[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [status, setStatus] = useState<Record<string, ServerStatus>>({});
  // Certificates needing attention per server, as last listed while it was open.
  const [certs, setCerts] = useState<Record<string, CertAlerts>>({});
  // Servers whose view connected in this session: their alerts are notified, on screen or not.
  const [reached, setReached] = useState<ReadonlySet<string>>(() => new Set());
  const [adding, setAdding] = useState(false);
  const [loadError, setLoadError] = useState<UiError | null>(null);
  // Views, drafts and filters of every server, kept while the app runs.
  const [session] = useState(() => given ?? newSession());
  // Terminal tabs outlive a server's view, not the app: nothing leaks.
  useEffect(() => () => closeTerminals(session), [session]);

  const refresh = useCallback(async () => {
    try {
      const list = await backend.listServers();
      setServers(list);
      setLoadError(null);
      return list;
    } catch (e) {
      setLoadError(e as UiError);
      return [];
    }
  }, [backend]);

  useEffect(() => {
    void refresh().then((list) => {
      // Open the most useful server: the only remote one, else this computer.
      const remote = list.filter((s) => !s.local);
      setSelected((cur) => cur ?? (remote.length === 1 ? remote[0].name : list[0]?.name ?? null));
    });
  }, [refresh]);

  const onStatus = useCallback((s: ServerStatus) => {
    setStatus((prev) => (selected && prev[selected] !== s ? { ...prev, [selected]: s } : prev));
    if (s === "connected" && selected) setReached((prev) => (prev.has(selected) ? prev : new Set(prev).add(selected)));
  }, [selected]);

  const onCerts = useCallback((a: CertAlerts) => {
    setCerts((prev) => (selected && !sameCertAlerts(prev[selected], a) ? { ...prev, [selected]: a } : prev));
  }, [selected]);

  const current = servers.find((s) => s.name === selected);
  // One watcher per server: names are unique.
  const watched = servers.filter((s) => s.connected || reached.has(s.name));

  return (
    <SessionProvider session={session}>
      <div className="flex h-full">
        <Sidebar servers={servers} selected={selected} status={status} certs={certs} onSelect={setSelected} onAdd={() => setAdding(true)} />
        {current ? (
          <ServerView
            key={current.name}
            backend={backend}
            server={current.name}
            local={current.local}
            onStatus={onStatus}
            onCerts={onCerts}
            onRemove={async () => {
              await backend.removeServer(current.name);
              setCerts(({ [current.name]: _, ...rest }) => rest);
              setReached((prev) => new Set([...prev].filter((n) => n !== current.name)));
              await refresh();
              setSelected("local");
            }}
          />
        ) : (
          <main className="flex flex-1 items-center justify-center p-8">
            <EmptyState icon={<Server className="size-10" />} title={loadError ? "Cannot read your servers" : "No server selected"}>
              {loadError ? loadError.message : "Pick a server on the left, or add one."}
            </EmptyState>
          </main>
        )}
        {watched.map((s) => (
          <AlertWatch key={s.name} backend={backend} server={s.name} />
        ))}
        <AddServerDialog
          backend={backend}
          open={adding}
          onClose={() => setAdding(false)}
          onAdded={async (s) => {
            await refresh();
            setSelected(s.name);
          }}
        />
      </div>
    </SessionProvider>
  );
}
