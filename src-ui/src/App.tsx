import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import { Server } from "lucide-react";
import type { Backend } from "./api/backend";
import type { ServerEntry, UiError } from "./api/desktop.gen";
import { AlertWatch } from "./components/AlertWatch";
import { ServerView } from "./components/ServerView";
import { Sidebar } from "./components/Sidebar";
import { EmptyState } from "./components/ui";
import { closeTerminals } from "./components/terminal/manager";
import { sameCertAlerts, type CertAlerts } from "./lib/domains";
import type { LiveState } from "./lib/liveLink";
import { newSession, SessionProvider, type Session } from "./lib/session";

/** Loaded when first opened: most starts never add a server. */
const AddServerDialog = lazy(() => import("./components/AddServerDialog").then((m) => ({ default: m.AddServerDialog })));

export function App({ backend, session: given }: { backend: Backend; session?: Session }) {
  const [servers, setServers] = useState<ServerEntry[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  // Each server's link as its alert watcher follows it, and the selected one's as its view does.
  const [watchLinks, setWatchLinks] = useState<Record<string, LiveState>>({});
  const [viewLink, setViewLink] = useState<{ server: string; live: LiveState } | null>(null);
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
      performance.mark("appos:servers");
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

  const onLink = useCallback((l: LiveState) => {
    if (!selected) return;
    setViewLink({ server: selected, live: l });
    if (l.state === "live") setReached((prev) => (prev.has(selected) ? prev : new Set(prev).add(selected)));
  }, [selected]);

  const onWatchLink = useCallback((server: string, l: LiveState) => {
    setWatchLinks((prev) => (prev[server] === l ? prev : { ...prev, [server]: l }));
  }, []);

  const onCerts = useCallback((a: CertAlerts) => {
    setCerts((prev) => (selected && !sameCertAlerts(prev[selected], a) ? { ...prev, [selected]: a } : prev));
  }, [selected]);

  const current = servers.find((s) => s.name === selected);
  // One watcher per server: names are unique.
  const watched = servers.filter((s) => s.connected || reached.has(s.name));
  // The server on screen: its view says where its link is, as its live indicator does.
  const onScreen = viewLink && viewLink.server === selected ? viewLink : null;
  const links = onScreen ? { ...watchLinks, [onScreen.server]: onScreen.live } : watchLinks;

  return (
    <SessionProvider session={session}>
      <div className="flex h-full">
        <Sidebar servers={servers} selected={selected} links={links} certs={certs} onSelect={setSelected} onAdd={() => setAdding(true)} />
        {current ? (
          <ServerView
            key={current.name}
            backend={backend}
            server={current.name}
            local={current.local}
            onLink={onLink}
            onCerts={onCerts}
            onRemove={async () => {
              await backend.removeServer(current.name);
              setCerts(({ [current.name]: _, ...rest }) => rest);
              setWatchLinks(({ [current.name]: _, ...rest }) => rest);
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
          <AlertWatch key={s.name} backend={backend} server={s.name} viewLive={onScreen?.server === s.name && onScreen.live.state === "live"} onLink={onWatchLink} />
        ))}
        {adding && (
          <Suspense fallback={null}>
            <AddServerDialog
              backend={backend}
              open={adding}
              onClose={() => setAdding(false)}
              onAdded={async (s) => {
                await refresh();
                setSelected(s.name);
              }}
            />
          </Suspense>
        )}
      </div>
    </SessionProvider>
  );
}
