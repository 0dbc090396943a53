// Renders a connected server's view on a given route, with a fresh session.
import { render, screen, waitFor } from "@testing-library/react";
import { expect } from "vitest";
import { ServerView } from "../components/ServerView";
import type { Route } from "../lib/server";
import { newSession, SessionProvider, type Session } from "../lib/session";
import type { FakeBackend } from "./fakeBackend";

const noop = () => undefined;

export function renderServer(b: FakeBackend, route: Route = { view: "apps" }, opts: { server?: string; local?: boolean; session?: Session } = {}) {
  const server = opts.server ?? "local";
  const session = opts.session ?? newSession();
  if (!opts.session) session.store.set(`nav:${server}`, { route, stack: [], last: {} });
  const r = render(
    <SessionProvider session={session}>
      <ServerView backend={b} server={server} local={opts.local ?? server === "local"} onRemove={noop} />
    </SessionProvider>,
  );
  return { ...r, session };
}

/** Waits until the event stream is open (the server view is connected). */
export async function connected(b: FakeBackend) {
  await waitFor(() => expect(b.openStreams("events")).toHaveLength(1));
  return b.stream("events");
}

export const byId = (id: string) => screen.getByTestId(id);
