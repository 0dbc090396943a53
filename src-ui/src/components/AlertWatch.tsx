// Notifies the alerts of one connected server, on screen or not: App renders
// one per server. Keeps the server's event stream open, resuming after the
// last event seen when it breaks, and notifies each notice once per session.
import { useCallback, useEffect, useRef, useState } from "react";
import type { Backend } from "../api/backend";
import type { StreamItem } from "../api/desktop.gen";
import { alertNotice, alertNoticeKey, alertNoticeOf } from "../lib/alerts";
import { useStream } from "../lib/hooks";
import { isNews, useSession } from "../lib/session";
import { RECONNECT_MS } from "./ServerView";

export function AlertWatch({ backend, server }: { backend: Backend; server: string }) {
  const session = useSession();
  const [stream, setStream] = useState({ after: -1, epoch: 0 });
  const lastId = useRef(-1);
  const delay = useRef<number>(RECONNECT_MS[0]);
  const openedAt = useRef(0);
  const retry = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (retry.current) clearTimeout(retry.current);
    },
    [],
  );

  const onItem = useCallback(
    (item: StreamItem) => {
      if (item.type === "event") {
        const e = item.event;
        lastId.current = Math.max(lastId.current, e.id);
        delay.current = RECONNECT_MS[0];
        if (e.kind !== "alert" || !isNews(session, e.at_ms)) return;
        const n = alertNoticeOf(e.data);
        if (!n) return;
        const key = alertNoticeKey(server, n);
        if (session.notified.has(key)) return;
        session.notified.add(key);
        const shown = alertNotice(server, n);
        if (shown) void backend.notify(shown.title, shown.body).catch(() => undefined);
      } else if (item.type === "end") {
        // As the server view's stream: doubling delays, short again after a stream that ran a while.
        if (Date.now() - openedAt.current > 10_000) delay.current = RECONNECT_MS[0];
        const wait = delay.current;
        delay.current = Math.min(wait * 2, RECONNECT_MS[1]);
        if (retry.current) clearTimeout(retry.current);
        retry.current = setTimeout(() => {
          retry.current = null;
          setStream((s) => ({ after: lastId.current, epoch: s.epoch + 1 }));
        }, wait);
      }
    },
    [backend, server, session],
  );
  const onOpen = useCallback(() => {
    openedAt.current = Date.now();
  }, []);
  useStream(backend, server, { type: "events", after: stream.after }, onItem, stream.epoch, onOpen);
  return null;
}
