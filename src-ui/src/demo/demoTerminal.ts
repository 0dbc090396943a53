// A pretend shell for the demo page: a line editor with a few commands
// (help, ls, colors, top-ish output, exit), so the terminal panel can be
// tried and looked at in a plain browser.
import type { Backend } from "../api/backend";
import type { TerminalEvent, TerminalKind } from "../api/desktop.gen";
import type { Terminal } from "../api/types.gen";

type TerminalApi = Pick<Backend, "openTerminal" | "terminalInput" | "terminalResize" | "terminalClose"> & {
  /** The agent's `list_terminals`. */
  listTerminals(): Terminal[];
  /** The agent's `kill_terminal`. */
  killTerminal(id: string): void;
};

const enc = new TextEncoder();
const dec = new TextDecoder();
const ESC = "\x1b[";

interface Shell {
  out: (s: string) => void;
  event: (e: TerminalEvent) => void;
  host: string;
  user: string;
  line: string;
  cols: number;
  rows: number;
  session: string | null;
}

function prompt(sh: Shell) {
  const root = sh.user === "root";
  sh.out(`${ESC}1;${root ? "31" : "32"}m${sh.user}@${sh.host}${ESC}0m:${ESC}1;34m${root ? "/" : "~"}${ESC}0m${root ? "#" : "$"} `);
}

function colors(): string {
  const names = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];
  let s = "";
  for (let i = 0; i < 8; i++) s += `${ESC}3${i}m${names[i].padEnd(9)}${ESC}0m ${ESC}9${i}m${("bright " + names[i]).padEnd(15)}${ESC}0m ${ESC}4${i}m  ${ESC}0m${ESC}10${i}m  ${ESC}0m\r\n`;
  return s + `${ESC}1mbold${ESC}0m ${ESC}3mitalic${ESC}0m ${ESC}4munderline${ESC}0m ${ESC}7mreverse${ESC}0m  UTF-8: ✓ äöü — ░▒▓█ ⚡ 日本語\r\n`;
}

function run(sh: Shell, cmd: string): boolean {
  const [name, ...args] = cmd.trim().split(/\s+/);
  switch (name) {
    case "":
      break;
    case "help":
      sh.out("commands: ls, ps, colors, date, uname, echo, clear, exit [status]\r\nlinks are clickable: https://docs.docker.com/compose/\r\n");
      break;
    case "ls":
      sh.out(`${ESC}1;34mbin${ESC}0m  ${ESC}1;34metc${ESC}0m  ${ESC}1;34mvar${ESC}0m  compose.yml  .env  ${ESC}1;32mentrypoint.sh${ESC}0m  README.md\r\n`);
      break;
    case "ps":
      sh.out(
        `${ESC}7m  PID USER     TIME  COMMAND                                  ${ESC}0m\r\n` +
          "    1 root      0:02 /usr/local/bin/docker-entrypoint.sh node\r\n" +
          "   42 node      1:17 node current/index.js\r\n" +
          "  311 root      0:00 /bin/sh\r\n",
      );
      break;
    case "colors":
      sh.out(colors());
      break;
    case "date":
      sh.out(new Date().toString() + "\r\n");
      break;
    case "uname":
      sh.out(`Linux ${sh.host} 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 x86_64 GNU/Linux\r\n`);
      break;
    case "echo":
      sh.out(args.join(" ") + "\r\n");
      break;
    case "stty":
      sh.out(`speed 38400 baud; rows ${sh.rows}; columns ${sh.cols}; line = 0;\r\n`);
      break;
    case "clear":
      sh.out(`${ESC}2J${ESC}H`);
      break;
    case "exit":
      sh.out("logout\r\n");
      sh.event({ type: "exit", status: Number(args[0] ?? 0) || 0 });
      return false;
    default:
      sh.out(`sh: ${name}: not found\r\n`);
  }
  return true;
}

export function demoTerminals(): TerminalApi {
  let handles = 0;
  const shells = new Map<number, Shell>();
  // One session left open "from before", to show the reattach offer.
  const detached: Terminal[] = [
    { id: "term-7f3a9c", kind: "exec", app: "blog", service: "db", command: ["/bin/sh"], tty: true, cols: 120, rows: 32, viewers: 0, created_ms: Date.now() - 3_600_000, active_ms: Date.now() - 540_000, exit_status: null },
  ];

  return {
    openTerminal: async (server, kind: TerminalKind, cols, rows, onData, onEvent) => {
      const handle = ++handles;
      const attached = kind.type === "attach" ? detached.find((t) => t.id === kind.id) : undefined;
      if (kind.type === "attach" && !attached) throw { code: "invalid_input", message: `no terminal ${kind.id} on ${server}`, host_key: null, fields: [] };
      const app = kind.type === "container" ? kind.app : attached?.app;
      const service = kind.type === "container" ? kind.service : attached?.service;
      const sh: Shell = {
        out: (s) => shells.has(handle) && onData(enc.encode(s)),
        event: (e) => shells.has(handle) && onEvent(e),
        host: app ? `${app}-${service}` : server === "local" ? "laptop" : server,
        user: kind.type === "server_shell" ? "deploy" : app ? "root" : "appos",
        line: "",
        cols,
        rows,
        session: kind.type === "server_shell" ? null : kind.type === "attach" ? kind.id : `term-${(0x1000 + handle * 7919).toString(16)}`,
      };
      shells.set(handle, sh);
      setTimeout(() => {
        if (kind.type === "attach") {
          sh.out(`${ESC}2mreplayed screen of ${kind.id}${ESC}0m\r\n`);
          prompt(sh);
          sh.out("mysql -uroot -p\"$MYSQL_ROOT_PASSWORD\" -e 'SELECT 1'\r\n+---+\r\n| 1 |\r\n+---+\r\n| 1 |\r\n+---+\r\n");
        } else if (kind.type === "server_shell") {
          sh.out(`Linux ${sh.host} 6.1.0-28-amd64 x86_64\r\n\r\nLast login: ${new Date(Date.now() - 86_400_000).toUTCString()} from 203.0.113.7\r\n`);
        } else if (kind.type === "agent_shell") {
          sh.out(`${ESC}2mAppOS agent shell on ${server} — type ${ESC}0m${ESC}1mhelp${ESC}0m\r\n`);
        }
        onEvent({ type: "replayed" });
        prompt(sh);
      }, 180);
      return {
        handle,
        session: sh.session,
        title: kind.type === "container" ? `${kind.app}/${kind.service}` : attached?.app ? `${attached.app}/${attached.service}` : `${server}: ${kind.type === "server_shell" ? "server shell" : "agent shell"}`,
      };
    },
    terminalInput: async (handle, data) => {
      const sh = shells.get(handle);
      if (!sh) throw { code: "invalid_input", message: "this terminal is closed", host_key: null, fields: [] };
      const text = typeof data === "string" ? data : dec.decode(data);
      for (const ch of text) {
        if (ch === "\r") {
          sh.out("\r\n");
          const cmd = sh.line;
          sh.line = "";
          if (run(sh, cmd)) prompt(sh);
          else shells.delete(handle);
        } else if (ch === "\x7f") {
          if (sh.line) {
            sh.line = sh.line.slice(0, -1);
            sh.out("\b \b");
          }
        } else if (ch === "\x03") {
          sh.line = "";
          sh.out("^C\r\n");
          prompt(sh);
        } else if (ch === "\x0c") {
          sh.out(`${ESC}2J${ESC}H`);
          prompt(sh);
          sh.out(sh.line);
        } else if (ch >= " ") {
          sh.line += ch;
          sh.out(ch);
        }
      }
    },
    terminalResize: async (handle, cols, rows) => {
      const sh = shells.get(handle);
      if (sh) Object.assign(sh, { cols, rows });
    },
    terminalClose: async (handle) => {
      shells.delete(handle);
    },
    listTerminals: () => detached.map((t) => ({ ...t })),
    killTerminal: (id) => {
      const i = detached.findIndex((t) => t.id === id);
      if (i >= 0) detached.splice(i, 1);
    },
  };
}
