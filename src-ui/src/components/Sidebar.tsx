import { Laptop, Moon, Plus, Server, Sun } from "lucide-react";
import { useState } from "react";
import type { ServerEntry } from "../api/desktop.gen";
import type { CertAlerts } from "../lib/domains";
import { useTick } from "../lib/hooks";
import { linkStatus, linkWords, type LiveState, type ServerStatus } from "../lib/liveLink";
import { currentTheme, setTheme, type Theme } from "../lib/theme";
import { CertAlertsBadge } from "./TabLabels";
import { Button, cx } from "./ui";

const dot: Record<ServerStatus, string> = {
  idle: "bg-zinc-300 dark:bg-zinc-600",
  connecting: "bg-amber-400 animate-pulse",
  connected: "bg-emerald-500",
  reconnecting: "bg-amber-500",
  error: "bg-red-500",
};

const off: LiveState = { state: "off" };

export function Sidebar({
  servers,
  selected,
  links,
  certs = {},
  onSelect,
  onAdd,
}: {
  servers: ServerEntry[];
  selected: string | null;
  /** Each server's link; a server missing is not followed. */
  links: Record<string, LiveState>;
  /** Certificates needing attention per server, as its Domains tab counts them. */
  certs?: Record<string, CertAlerts>;
  onSelect: (name: string) => void;
  onAdd: () => void;
}) {
  const [theme, setThemeState] = useState<Theme>(currentTheme());
  // The dots' titles count down to the next try.
  useTick(Object.values(links).some((l) => l.state === "retrying"));
  const toggle = () => {
    const t = theme === "dark" ? "light" : "dark";
    setTheme(t);
    setThemeState(t);
  };
  return (
    <aside className="flex w-64 shrink-0 flex-col border-r border-zinc-200 bg-zinc-50 dark:border-zinc-800 dark:bg-zinc-900/60">
      <div className="flex h-14 items-center gap-2 border-b border-zinc-200 px-4 dark:border-zinc-800">
        <div className="flex size-7 items-center justify-center rounded-lg bg-indigo-600 text-sm font-bold text-white">A</div>
        <span className="text-[15px] font-semibold tracking-tight">AppOS</span>
      </div>
      <nav className="flex-1 overflow-y-auto p-2" aria-label="Servers">
        <p className="px-2 pt-2 pb-1 text-[11px] font-semibold tracking-wider text-zinc-500 uppercase">Servers</p>
        <ul className="space-y-0.5" data-testid="server-list">
          {servers.map((s) => {
            const Icon = s.local ? Laptop : Server;
            const link = links[s.name] ?? off;
            const st = linkStatus(link);
            return (
              <li key={s.name}>
                <button
                  data-testid={`server-${s.name}`}
                  onClick={() => onSelect(s.name)}
                  className={cx(
                    "flex w-full items-center gap-2.5 rounded-md px-2 py-1.5 text-left text-sm transition-colors",
                    selected === s.name
                      ? "bg-white font-medium shadow-sm ring-1 ring-zinc-200 dark:bg-zinc-800 dark:ring-zinc-700"
                      : "text-zinc-700 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800/60",
                  )}
                >
                  <Icon className="size-4 shrink-0 text-zinc-500" aria-hidden />
                  <span className="min-w-0 flex-1">
                    <span className="block truncate">{s.local ? "This computer" : s.name}</span>
                    {!s.local && <span className="block truncate text-xs font-normal text-zinc-500">{s.url.replace(/^ssh:\/\//, "")}</span>}
                  </span>
                  {certs[s.name] && <CertAlertsBadge alerts={certs[s.name]} testId={`server-certs-${s.name}`} />}
                  <span className={cx("size-2 shrink-0 rounded-full", dot[st])} title={linkWords(link, Date.now())} data-testid={`server-status-${s.name}`} data-status={st} />
                </button>
              </li>
            );
          })}
        </ul>
      </nav>
      <div className="space-y-2 border-t border-zinc-200 p-3 dark:border-zinc-800">
        <Button className="w-full" onClick={onAdd} data-testid="add-server">
          <Plus className="size-4" /> Add server
        </Button>
        <Button variant="ghost" size="sm" className="w-full" onClick={toggle} data-testid="theme-toggle">
          {theme === "dark" ? <Sun className="size-4" /> : <Moon className="size-4" />}
          {theme === "dark" ? "Light theme" : "Dark theme"}
        </Button>
      </div>
    </aside>
  );
}
