// The UI on made-up data in a plain browser: `npm run dev`, then open
// /demo.html, optionally with ?theme=dark and a view, e.g.
// ?view=app&app=blog&tab=compose, ?view=template&id=ghost, ?view=deployment, ?view=alerts, ?view=backups.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "../index.css";
import { App } from "../App";
import type { AppTab, Route } from "../lib/server";
import { newSession } from "../lib/session";
import { initTheme, setTheme } from "../lib/theme";
import { demoBackend } from "./demoBackend";

const q = new URLSearchParams(location.search);
const theme = q.get("theme");
if (theme === "dark" || theme === "light") setTheme(theme);
initTheme();

async function start() {
  const backend = demoBackend();
  const session = newSession();
  let route: Route | null = null;
  switch (q.get("view")) {
    case "app":
      route = { view: "app", app: q.get("app") ?? "blog", tab: (q.get("tab") as AppTab) ?? "overview" };
      break;
    case "catalog":
      route = { view: "catalog" };
      break;
    case "template":
      route = { view: "template", id: q.get("id") ?? "ghost" };
      break;
    case "deployments":
      route = { view: "deployments" };
      break;
    case "alerts":
      route = { view: "alerts" };
      break;
    case "backups":
      route = { view: "backups" };
      break;
    case "deployment": {
      const d = await backend.call("local", { call: "run_app_action", args: { app: "blog", action: "update" } });
      route = { view: "deployment", id: d.id, secrets: q.has("secrets") ? { DB_PASSWORD: "q7Vn2pXkR4sL9wTzB1mC6hJd8fYgE3aU" } : undefined };
      break;
    }
  }
  if (route) for (const server of ["local", "prod"]) session.store.set(`nav:${server}`, { route, stack: [], last: {} });
  const root = document.getElementById("root");
  if (root)
    createRoot(root).render(
      <StrictMode>
        <App backend={backend} session={session} />
      </StrictMode>,
    );
}
void start();
