// Notifies the alerts of one connected server, on screen or not: App renders
// one per server. Follows the server's event stream as a live link (which
// the sidebar shows while the server is off screen), and notifies each
// notice once per session.
import { useCallback, useEffect } from "react";
import type { Backend } from "../api/backend";
import type { Event } from "../api/types.gen";
import { alertNotice, alertNoticeKey, alertNoticeOf } from "../lib/alerts";
import { useLatest } from "../lib/hooks";
import { useLiveLink, type LiveState } from "../lib/liveLink";
import { isNews, useSession } from "../lib/session";

export function AlertWatch({
  backend,
  server,
  viewLive = false,
  onLink,
}: {
  backend: Backend;
  server: string;
  /** The server's view follows its own stream, and it is live. */
  viewLive?: boolean;
  /** The watcher's link each time it changes. */
  onLink?: (server: string, l: LiveState) => void;
}) {
  const session = useSession();
  const onEvent = useCallback(
    (e: Event) => {
      if (e.kind !== "alert" || !isNews(session, e.at_ms)) return;
      const n = alertNoticeOf(e.data);
      if (!n) return;
      const key = alertNoticeKey(server, n);
      if (session.notified.has(key)) return;
      session.notified.add(key);
      const shown = alertNotice(server, n);
      if (shown) void backend.notify(shown.title, shown.body).catch(() => undefined);
    },
    [backend, server, session],
  );
  const { live, reconnect } = useLiveLink(backend, server, { onEvent });

  const report = useLatest(onLink);
  useEffect(() => report.current?.(server, live), [server, live, report]);

  // Stopped on an error retrying cannot mend: once the view gets through
  // (the user mended it), so can this. On the view's way up only, so a
  // watcher that keeps failing is not retried in a loop.
  const failed = useLatest(live.state === "failed");
  useEffect(() => {
    if (viewLive && failed.current) reconnect();
  }, [viewLive, failed, reconnect]);
  return null;
}
