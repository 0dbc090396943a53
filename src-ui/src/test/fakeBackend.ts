// A scripted Backend for tests: each test says what each call answers, sees
// every call made, and drives streams by pushing items into them.
import { act } from "@testing-library/react";
import type { AppAction, Backend, StreamHandle } from "../api/backend";
import type { AddServerForm, Connection, ServerEntry, StreamItem, StreamRequest, TerminalEvent, TerminalKind, TerminalTab, UiError } from "../api/desktop.gen";
import type { App, Deployment, Event } from "../api/types.gen";

export const info = {
  agent_version: "0.1.0",
  data_dir: "/var/lib/appos",
  docker: { version: "20.10.24", api_version: "1.41", negotiated_api_version: "1.41", os: "linux", arch: "amd64" },
  compose: { flavour: "standalone", version: "1.29.2", command: ["docker-compose"] },
  queue: "sqlite",
} as Connection["info"];

export const localServer: ServerEntry = { name: "local", url: "local", local: true, host_key: null, connected: false };

export function uiError(code: UiError["code"], message: string, fields: { field: string; message: string }[] = []): UiError {
  return { code, message, host_key: null, fields };
}

/** An open stream of the fake: the test pushes items, and sees whether the UI closed it. */
export class FakeStream {
  closed = false;
  closeCalls = 0;
  ended = false;
  constructor(
    readonly server: string,
    readonly req: StreamRequest,
    private readonly onItem: (item: StreamItem) => void,
  ) {}
  /** Delivers an item to the UI (inside act). */
  push(item: StreamItem) {
    act(() => this.onItem(item));
  }
  event(kind: string, app: string | null, data: Record<string, unknown>, id?: number) {
    const ev: Event = { id: id ?? ++FakeStream.ids, at_ms: Date.now(), kind, app, data };
    this.push({ type: "event", event: ev });
  }
  end(error: UiError | null = null) {
    this.ended = true;
    this.push({ type: "end", error });
  }
  static ids = 1000;
}

type Fn = (...args: never[]) => unknown;
type Answer<F extends Fn> = Awaited<ReturnType<F>> | UiError | ((...args: Parameters<F>) => Awaited<ReturnType<F>> | Promise<Awaited<ReturnType<F>>>);
type Scripted = Exclude<
  keyof Backend,
  "openStream" | "notify" | "listServers" | "addServer" | "removeServer" | "connect" | "listApps" | "openTerminal" | "terminalInput" | "terminalResize" | "terminalClose"
>;

/** A terminal tab the UI opened on the fake: the test pushes bytes and events. */
export class FakeTerminal {
  closed = false;
  input: (string | Uint8Array)[] = [];
  sizes: [number, number][] = [];
  constructor(
    readonly handle: number,
    readonly server: string,
    readonly kind: TerminalKind,
    readonly cols: number,
    readonly rows: number,
    private readonly onData: (b: Uint8Array) => void,
    private readonly onEvent: (e: TerminalEvent) => void,
  ) {}
  write(text: string | Uint8Array) {
    act(() => this.onData(typeof text === "string" ? new TextEncoder().encode(text) : text));
  }
  event(e: TerminalEvent) {
    act(() => this.onEvent(e));
  }
}

function isUiError(v: unknown): v is UiError {
  return !!v && typeof v === "object" && "code" in v && "message" in v && "fields" in v;
}

export class FakeBackend implements Backend {
  servers: ServerEntry[] = [localServer];
  /** listApps per server: a list, an error, or a queue of answers (the last one repeats). */
  apps: Record<string, App[] | UiError> = { local: [] };
  addAnswers: ((f: AddServerForm) => ServerEntry | UiError)[] = [];
  added: AddServerForm[] = [];
  streams: FakeStream[] = [];
  terminals: FakeTerminal[] = [];
  notifications: { title: string; body: string }[] = [];
  /** Every call, in order: method name and arguments. */
  calls: { method: string; args: unknown[] }[] = [];
  private answers = new Map<string, unknown[]>();

  /**
   * Scripts `method`: each answer is used once in order, the last one for
   * every further call. An answer is a value, a UiError (thrown) or a function.
   */
  on<K extends Scripted>(method: K, ...answers: Answer<Backend[K]>[]) {
    this.answers.set(method, answers);
    return this;
  }

  /** The arguments of each call of `method`. */
  callsOf(method: keyof Backend): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  /** The newest stream of a type (`events`, `deployment_log`, `app_logs`). */
  stream(type: StreamRequest["type"]): FakeStream {
    const s = [...this.streams].reverse().find((x) => x.req.type === type);
    if (!s) throw new Error(`no ${type} stream was opened`);
    return s;
  }

  openStreams(type?: StreamRequest["type"]) {
    return this.streams.filter((s) => !s.closed && (!type || s.req.type === type));
  }

  private async answer(method: string, args: unknown[]): Promise<never> {
    this.calls.push({ method, args });
    const list = this.answers.get(method);
    if (!list || list.length === 0) throw uiError("other", `unscripted: ${method}`);
    const a = list.length > 1 ? list.shift() : list[0];
    const v = typeof a === "function" ? await (a as (...x: unknown[]) => unknown)(...args) : a;
    if (isUiError(v)) throw v;
    return structuredClone(v) as never;
  }

  async listServers() {
    this.calls.push({ method: "listServers", args: [] });
    return [...this.servers];
  }
  async addServer(form: AddServerForm) {
    this.added.push(form);
    const next = this.addAnswers.shift();
    const r = next ? next(form) : uiError("other", "unscripted");
    if ("code" in r) throw r;
    this.servers.push(r);
    this.apps[r.name] = [];
    return r;
  }
  async removeServer(name: string) {
    this.servers = this.servers.filter((s) => s.name !== name);
  }
  async connect(name: string): Promise<Connection> {
    this.calls.push({ method: "connect", args: [name] });
    const a = this.apps[name];
    if (a && "code" in a) throw a;
    return { server: name, via: `via-${name}`, info };
  }
  async listApps(name: string) {
    this.calls.push({ method: "listApps", args: [name] });
    const a = this.apps[name] ?? [];
    if ("code" in a) throw a;
    return structuredClone(a);
  }

  getApp = (server: string, app: string) => this.answer("getApp", [server, app]);
  catalog = (server: string, search?: string) => this.answer("catalog", [server, search]);
  deploy = (...a: Parameters<Backend["deploy"]>) => this.answer("deploy", a);
  checkCompose = (...a: Parameters<Backend["checkCompose"]>) => this.answer("checkCompose", a);
  listDeployments = (server: string, app?: string) => this.answer("listDeployments", [server, app]);
  getDeployment = (server: string, id: string) => this.answer("getDeployment", [server, id]);
  cancelDeployment = (server: string, id: string) => this.answer("cancelDeployment", [server, id]);
  appAction = (server: string, app: string, action: AppAction) => this.answer("appAction", [server, app, action]);
  redeploy = (server: string, app: string) => this.answer("redeploy", [server, app]);
  deleteApp = (server: string, app: string, volumes: boolean) => this.answer("deleteApp", [server, app, volumes]);
  listVersions = (server: string, app: string) => this.answer("listVersions", [server, app]);
  getVersion = (server: string, app: string, version: number) => this.answer("getVersion", [server, app, version]);
  diffVersions = (server: string, app: string, from: number, to: number) => this.answer("diffVersions", [server, app, from, to]);
  saveVersion = (...a: Parameters<Backend["saveVersion"]>) => this.answer("saveVersion", a);
  rollback = (server: string, app: string, version: number, pinDigests: boolean) => this.answer("rollback", [server, app, version, pinDigests]);

  async openStream(server: string, req: StreamRequest, onItem: (item: StreamItem) => void): Promise<StreamHandle> {
    this.calls.push({ method: "openStream", args: [server, req] });
    const s = new FakeStream(server, req, onItem);
    this.streams.push(s);
    return {
      close: () => {
        s.closeCalls++;
        s.closed = true;
      },
    };
  }

  async notify(title: string, body: string) {
    this.notifications.push({ title, body });
  }

  adoptApp = (server: string, project: string) => this.answer("adoptApp", [server, project]);
  openUrl = (url: string) => this.answer("openUrl", [url]);
  listTerminals = (server: string) => this.answer("listTerminals", [server]);
  killTerminal = (server: string, id: string) => this.answer("killTerminal", [server, id]);

  /** While set, openTerminal waits for it (keys typed meanwhile are queued by the UI). */
  terminalGate: Promise<void> | null = null;
  /** openTerminal answers this error instead, once. */
  terminalError: UiError | null = null;

  async openTerminal(server: string, kind: TerminalKind, cols: number, rows: number, onData: (b: Uint8Array) => void, onEvent: (e: TerminalEvent) => void): Promise<TerminalTab> {
    this.calls.push({ method: "openTerminal", args: [server, kind, cols, rows] });
    if (this.terminalError) {
      const e = this.terminalError;
      this.terminalError = null;
      throw e;
    }
    const t = new FakeTerminal(this.terminals.length + 1, server, kind, cols, rows, onData, onEvent);
    this.terminals.push(t);
    if (this.terminalGate) await this.terminalGate;
    const session = kind.type === "attach" ? kind.id : kind.type === "server_shell" ? null : `term-${t.handle}`;
    const title = kind.type === "container" ? `${kind.app}/${kind.service}` : kind.type === "server_shell" ? `${server}: server shell` : kind.type === "agent_shell" ? `${server}: agent shell` : "blog/db";
    return { handle: t.handle, session, title };
  }
  private term(handle: number): FakeTerminal {
    const t = this.terminals.find((x) => x.handle === handle);
    if (!t) throw uiError("invalid_input", "this terminal is closed");
    return t;
  }
  async terminalInput(handle: number, data: string | Uint8Array) {
    this.calls.push({ method: "terminalInput", args: [handle, data] });
    this.term(handle).input.push(data);
  }
  async terminalResize(handle: number, cols: number, rows: number) {
    this.calls.push({ method: "terminalResize", args: [handle, cols, rows] });
    this.term(handle).sizes.push([cols, rows]);
  }
  async terminalClose(handle: number) {
    this.calls.push({ method: "terminalClose", args: [handle] });
    this.term(handle).closed = true;
  }
}

// Fixtures.

export function app(name: string, over: Partial<App> = {}): App {
  return {
    name,
    state: "running",
    managed: true,
    working_dir: `/var/lib/appos/apps/${name}`,
    config_files: [`/var/lib/appos/apps/${name}/compose.yml`],
    services: [
      {
        name: "web",
        containers: [
          { id: `${name}-1`, name: `${name}-web-1`, image: "nginx:1.27", state: "running", status: "Up 5 minutes", ports: [{ private_port: 80, public_port: 8080, ip: "0.0.0.0", protocol: "tcp" }] },
        ],
      },
      { name: "db", containers: [{ id: `${name}-2`, name: `${name}-db-1`, image: "postgres:16", state: "running", status: "Up 5 minutes (healthy)", ports: [] }] },
    ],
    ...over,
  };
}

export function deployment(id: string, over: Partial<Deployment> = {}): Deployment {
  return {
    id,
    app: "blog",
    operation: "deploy",
    version: 1,
    state: "running",
    attempt: 1,
    error: null,
    steps: [],
    created_ms: Date.now() - 5000,
    finished_ms: null,
    ...over,
  };
}
