// A scripted Backend for tests: each test says what each call answers, sees
// every call made, and drives streams by pushing items into them.
import { act } from "@testing-library/react";
import type { Backend, StreamHandle } from "../api/backend";
import type { AgentCallResponse, CallName, CallOf } from "../api/calls.gen";
import type { AddServerForm, BackupRepositorySet, Connection, InstallCheck, InstallForm, InstallProgress, LocalProject, ServerEntry, StreamItem, StreamRequest, TerminalEvent, TerminalKind, TerminalTab, UiError } from "../api/desktop.gen";
import type { Alert, AlertRule, AlertRuleSettings, App, BackupRun, Channel, Deployment, Domain, Event, HostAccess, HostAccessKind, HostAccessNeed, RepositoryInfo, RepositoryRequest, Snapshot } from "../api/types.gen";
import { describeHostAccess } from "../lib/hostaccess";

export const info = {
  agent_version: "0.1.0",
  data_dir: "/var/lib/appos",
  docker: { version: "20.10.24", api_version: "1.41", negotiated_api_version: "1.41", os: "linux", arch: "amd64" },
  compose: { flavour: "standalone", version: "1.29.2", command: ["docker-compose"] },
  queue: "sqlite",
  proxy: { backend: "caddy", http: "0.0.0.0:80", https: "0.0.0.0:443" },
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

/** The arguments of the agent call named `K`. */
export type ArgsOf<K extends CallName> = CallOf<K>["args"];
/** What a scripted agent call answers: a value, a UiError (thrown), or a function of the call's arguments. */
export type Answer<K extends CallName> =
  | AgentCallResponse[K]
  | UiError
  | ((args: ArgsOf<K>, server: string) => AgentCallResponse[K] | UiError | Promise<AgentCallResponse[K] | UiError>);

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

/** What a scripted `installCheck` answers: a checklist, a UiError (thrown), or a function of the form giving either. */
export type CheckAnswer = InstallCheck[] | UiError | ((form: InstallForm) => InstallCheck[] | UiError);

/** A scripted `installServer`: the progress it reports, in order, then the server it adds or the UiError it fails with. */
export interface InstallScript {
  progress?: InstallProgress[];
  end: ServerEntry | UiError;
}

/**
 * A call with progress the test drives (an install or an upgrade): it
 * reports progress to the UI and ends when the test says so.
 */
class FakeProgressRun<T> {
  done = false;
  constructor(
    private readonly onProgress: (p: InstallProgress) => void,
    private readonly finish: (end: T | UiError) => void,
  ) {}
  /** Delivers a progress report to the UI (inside act). */
  progress(p: InstallProgress) {
    act(() => this.onProgress(p));
  }
  checked(checks: InstallCheck[]) {
    this.progress({ type: "checked", checks });
  }
  step(message: string) {
    this.progress({ type: "step", message });
  }
  upload(sent: number, total: number) {
    this.progress({ type: "upload", sent, total });
  }
  /** Ends the call: it resolves to `end`, or rejects with it when a UiError. */
  async end(end: T | UiError) {
    this.done = true;
    await act(async () => this.finish(end));
  }
}

/** An `installServer` the test drives; `end` takes the server it adds. */
export class FakeInstall extends FakeProgressRun<ServerEntry> {
  constructor(
    readonly form: InstallForm,
    onProgress: (p: InstallProgress) => void,
    finish: (end: ServerEntry | UiError) => void,
  ) {
    super(onProgress, finish);
  }
}

/** A scripted `upgradeServer`: the progress it reports, in order, then the new connection or the UiError it fails with. */
export interface UpgradeScript {
  progress?: InstallProgress[];
  end: Connection | UiError;
}

/** An `upgradeServer` the test drives; `end` takes the connection to the new agent. */
export class FakeUpgrade extends FakeProgressRun<Connection> {
  constructor(
    readonly server: string,
    onProgress: (p: InstallProgress) => void,
    finish: (end: Connection | UiError) => void,
  ) {
    super(onProgress, finish);
  }
}

/** What a scripted `setBackupRepository` answers: a value, a UiError (thrown), or a function of the request and the server giving either. */
export type RepositoryAnswer = BackupRepositorySet | UiError | ((request: RepositoryRequest, server: string) => BackupRepositorySet | UiError);

/** The agent's SSH key line the fake's `get_backup_repository` answers for a server. */
export const agentSshKey = (server: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFpuxhDRvf8h7Dyb7fCtVRMMG3gPnFPUtgNlhwY7F6k appos-agent@${server}`;

function isUiError(v: unknown): v is UiError {
  return !!v && typeof v === "object" && "code" in v && "message" in v && "fields" in v;
}

export class FakeBackend implements Backend {
  servers: ServerEntry[] = [localServer];
  /** What `list_apps` answers per server: a list or an error. */
  apps: Record<string, App[] | UiError> = { local: [] };
  /** The agent info each server's connection carries (`info` when unset). */
  infos: Record<string, Connection["info"]> = {};
  addAnswers: ((f: AddServerForm) => ServerEntry | UiError)[] = [];
  added: AddServerForm[] = [];
  /**
   * What `installCheck` answers: each answer once in order, the last one for
   * every further call. Its calls are in `callsOf("installCheck")`.
   */
  checkAnswers: CheckAnswer[] = [];
  /** While set, `installCheck` waits for it before answering. */
  checkGate: Promise<void> | null = null;
  /**
   * Scripted `installServer` calls, each used once in order. With none left,
   * the install stays open for the test to drive: see `installs`.
   */
  installScripts: InstallScript[] = [];
  /** Every `installServer` call, scripted or driven. */
  installs: FakeInstall[] = [];
  /** What `desktopVersion` answers: a version, or a UiError (thrown). */
  desktop: string | UiError = "0.1.0";
  /** What `hasGpu` answers. */
  gpu = true;
  /**
   * Scripted `upgradeServer` calls, each used once in order. With none left,
   * the upgrade stays open for the test to drive: see `upgrades`.
   */
  upgradeScripts: UpgradeScript[] = [];
  /** Every `upgradeServer` call, scripted or driven. */
  upgrades: FakeUpgrade[] = [];
  streams: FakeStream[] = [];
  terminals: FakeTerminal[] = [];
  notifications: { title: string; body: string }[] = [];
  /**
   * Every call, in order: for an agent call its name and `[server, args]`,
   * for another Backend method its name and arguments.
   */
  calls: { method: string; args: unknown[] }[] = [];
  /**
   * What `get_backup_repository` answers per server, unless scripted with
   * `on` (no location and `agentSshKey(server)` when unset). A successful
   * `setBackupRepository` sets its location and host key.
   */
  repositories: Record<string, RepositoryInfo> = {};
  /**
   * What `setBackupRepository` answers: each answer once in order, the last
   * one for every further call. Its calls are in `callsOf("setBackupRepository")`.
   */
  repositoryAnswers: RepositoryAnswer[] = [];
  /**
   * What `backupKey` answers per server: a key, or a UiError (thrown); null
   * when unset. A successful `setBackupRepository` whose key was kept keeps it here.
   */
  backupKeys: Record<string, string | UiError> = {};
  private answers = new Map<CallName, unknown[]>();

  /**
   * Scripts the agent call `name`: each answer is used once in order, the
   * last one for every further call. An answer is a value, a UiError
   * (thrown) or a function `(args, server)` giving either.
   */
  on<K extends CallName>(name: K, ...answers: Answer<K>[]) {
    this.answers.set(name, answers);
    return this;
  }

  /** Each call of the agent call `name`: `[server, args]`. */
  callsOf<K extends CallName>(name: K): [string, ArgsOf<K>][];
  /** The arguments of each call of a Backend method. */
  callsOf(method: Exclude<keyof Backend, "call">): unknown[][];
  callsOf(name: string): unknown[][] {
    return this.calls.filter((c) => c.method === name).map((c) => c.args);
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

  async call<K extends CallName>(server: string, req: CallOf<K>): Promise<AgentCallResponse[K]> {
    const name: K = req.call;
    // CallOf<K> is the request of K, so its args are ArgsOf<K>; TypeScript does not narrow that far.
    const args = req.args as ArgsOf<K>;
    this.calls.push({ method: name, args: [server, args] });
    if (name === "list_apps") {
      // Answered from `apps`, which tests change between refreshes.
      const a = this.apps[server] ?? [];
      if (isUiError(a)) throw a;
      return structuredClone(a) as AgentCallResponse[K];
    }
    if (name === "get_backup_repository" && !this.answers.has(name)) {
      // Answered from `repositories`, which `setBackupRepository` changes.
      return structuredClone(this.repositoryOf(server)) as AgentCallResponse[K];
    }
    const list = this.answers.get(name) as Answer<K>[] | undefined;
    if (!list || list.length === 0) throw uiError("other", `unscripted: ${name}`);
    const a = list.length > 1 ? list.shift()! : list[0];
    const v = typeof a === "function" ? await a(args, server) : a;
    if (isUiError(v)) throw v;
    return structuredClone(v);
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
  async installCheck(form: InstallForm): Promise<InstallCheck[]> {
    this.calls.push({ method: "installCheck", args: [structuredClone(form)] });
    if (this.checkGate) await this.checkGate;
    const list = this.checkAnswers;
    if (list.length === 0) throw uiError("other", "unscripted: installCheck");
    const a = list.length > 1 ? list.shift()! : list[0];
    const v = typeof a === "function" ? a(form) : a;
    if (isUiError(v)) throw v;
    return structuredClone(v);
  }
  async installServer(form: InstallForm, onProgress: (p: InstallProgress) => void): Promise<ServerEntry> {
    this.calls.push({ method: "installServer", args: [structuredClone(form)] });
    const script = this.installScripts.shift();
    if (script) {
      const i = new FakeInstall(form, onProgress, () => undefined);
      i.done = true;
      this.installs.push(i);
      for (const p of script.progress ?? []) onProgress(p);
      return this.installed(script.end);
    }
    return new Promise((resolve, reject) => {
      this.installs.push(
        new FakeInstall(form, onProgress, (end) => {
          try {
            resolve(this.installed(end));
          } catch (e) {
            reject(e);
          }
        }),
      );
    });
  }
  /** The newest `installServer` call. */
  install(): FakeInstall {
    const i = this.installs[this.installs.length - 1];
    if (!i) throw new Error("installServer was not called");
    return i;
  }
  private installed(end: ServerEntry | UiError): ServerEntry {
    if (isUiError(end)) throw end;
    this.servers.push(end);
    this.apps[end.name] = [];
    return end;
  }
  async hasGpu(): Promise<boolean> {
    return this.gpu;
  }
  async desktopVersion(): Promise<string> {
    this.calls.push({ method: "desktopVersion", args: [] });
    if (isUiError(this.desktop)) throw this.desktop;
    return this.desktop;
  }
  async upgradeServer(name: string, onProgress: (p: InstallProgress) => void): Promise<Connection> {
    this.calls.push({ method: "upgradeServer", args: [name] });
    const script = this.upgradeScripts.shift();
    if (script) {
      const u = new FakeUpgrade(name, onProgress, () => undefined);
      u.done = true;
      this.upgrades.push(u);
      for (const p of script.progress ?? []) onProgress(p);
      return this.upgraded(name, script.end);
    }
    return new Promise((resolve, reject) => {
      this.upgrades.push(
        new FakeUpgrade(name, onProgress, (end) => {
          try {
            resolve(this.upgraded(name, end));
          } catch (e) {
            reject(e);
          }
        }),
      );
    });
  }
  /** The newest `upgradeServer` call. */
  upgrade(): FakeUpgrade {
    const u = this.upgrades[this.upgrades.length - 1];
    if (!u) throw new Error("upgradeServer was not called");
    return u;
  }
  /** A successful upgrade: later connections meet the new agent. */
  private upgraded(name: string, end: Connection | UiError): Connection {
    if (isUiError(end)) throw end;
    this.infos[name] = structuredClone(end.info);
    return structuredClone(end);
  }
  async removeServer(name: string) {
    this.servers = this.servers.filter((s) => s.name !== name);
  }
  async connect(name: string): Promise<Connection> {
    this.calls.push({ method: "connect", args: [name] });
    const a = this.apps[name];
    if (a && "code" in a) throw a;
    return { server: name, via: `via-${name}`, info: this.infos[name] ?? info };
  }

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

  /** openUrl answers this error instead, while set. */
  openUrlError: UiError | null = null;

  async openUrl(url: string) {
    this.calls.push({ method: "openUrl", args: [url] });
    if (this.openUrlError) throw this.openUrlError;
  }

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

  /** What `readProject` answers per path: a project or an error (thrown); other paths do not exist. */
  projects: Record<string, LocalProject | UiError> = {};

  async readProject(path: string): Promise<LocalProject> {
    this.calls.push({ method: "readProject", args: [path] });
    const p = this.projects[path];
    if (!p) throw uiError("other", `${path} does not exist`);
    if (isUiError(p)) throw p;
    return structuredClone(p);
  }

  private repositoryOf(server: string): RepositoryInfo {
    return this.repositories[server] ?? { location: null, host_key: null, ssh_public_key: agentSshKey(server) };
  }

  async setBackupRepository(server: string, request: RepositoryRequest): Promise<BackupRepositorySet> {
    this.calls.push({ method: "setBackupRepository", args: [server, structuredClone(request)] });
    const list = this.repositoryAnswers;
    if (list.length === 0) throw uiError("other", "unscripted: setBackupRepository");
    const a = list.length > 1 ? list.shift()! : list[0];
    const v = typeof a === "function" ? a(request, server) : a;
    if (isUiError(v)) throw v;
    // As the desktop and the agent: the repository is set, and its key kept.
    this.repositories[server] = { ...this.repositoryOf(server), location: v.repository.location, host_key: v.repository.host_key };
    const key = v.repository.key ?? request.key;
    if (key && v.key_kept) this.backupKeys[server] = key;
    return structuredClone(v);
  }

  async backupKey(server: string): Promise<string | null> {
    this.calls.push({ method: "backupKey", args: [server] });
    const k = this.backupKeys[server];
    if (isUiError(k)) throw k;
    return k ?? null;
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
    last_deployment: null,
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

export function access(kind: HostAccessKind, service: string, target: string): HostAccess {
  return { kind, service, target };
}

/** A need as `check_compose` answers it, in the agent's words. */
export function need(a: HostAccess, granted = false): HostAccessNeed {
  return { access: a, description: describeHostAccess(a), granted };
}

/** A domain as `list_domains` answers it: blog/web:2368 over HTTPS with a valid certificate, unless said otherwise. */
export function domain(name: string, over: Partial<Domain> = {}): Domain {
  return {
    domain: name,
    app: "blog",
    service: "web",
    port: 2368,
    ssl: true,
    force_https: true,
    redirect_to: null,
    certificate: { state: "valid", issuer: "R11", not_after: Math.floor(Date.now() / 1000) + 61 * 86400, days_left: 61 },
    ...over,
  };
}

/** An alert as `list_alerts` answers it: blog-web-1 in a restart loop, firing for 10 min, unless said otherwise. */
export function alert(id: number, over: Partial<Alert> = {}): Alert {
  return {
    id,
    rule: "restart_loop",
    subject: "blog-web-1",
    app: "blog",
    severity: "critical",
    state: "firing",
    summary: "blog-web-1 (blog/web) exited 4 times in the last 10 min",
    details: {},
    fired_at_ms: Date.now() - 10 * 60_000,
    resolved_at_ms: null,
    notices: 1,
    ...over,
  };
}

/** A rule's settings as the agent ships them. */
export function alertRule(rule: AlertRule, over: Partial<AlertRuleSettings> = {}): AlertRuleSettings {
  const shipped: Record<AlertRule, [number, number, number, string | null]> = {
    deployment_failed: [0, 0, 0, null],
    restart_loop: [3, 600, 3600, "exits"],
    unhealthy: [0, 60, 3600, null],
    memory_high: [90, 300, 3600, "% of the limit"],
    disk_low: [10, 0, 21600, "% free"],
    certificate_expiring: [30, 0, 86400, "days left"],
    backup_failed: [0, 0, 86400, null],
    backup_stale: [2, 0, 86400, "× the schedule"],
  };
  const [threshold, window_secs, repeat_secs, threshold_unit] = shipped[rule];
  return { rule, enabled: true, threshold, window_secs, repeat_secs, threshold_unit, ...over };
}

/** A channel as `list_channels` answers it: a webhook, unless said otherwise. */
export function channel(name: string, over: Partial<Channel> = {}): Channel {
  return { name, kind: "webhook", target: "hooks.example.com", created_at: Math.floor(Date.now() / 1000) - 3600, configured: false, ...over };
}

/** What the desktop gets when the agent has no backup repository (its `no_repository` problem). */
export const noRepository: UiError = {
  ...uiError("conflict", "No backup repository is set: set one with `appos backup repository PATH`"),
  problem: "no_repository",
};

/** A repository as `setBackupRepository` answers it: a new one at `/var/backups/appos` with a key the agent generated, kept in the keyring, unless said otherwise. */
export function repositorySet(over: { repository?: Partial<BackupRepositorySet["repository"]>; key_kept?: string | null; used_kept_key?: boolean } = {}): BackupRepositorySet {
  const repository = { location: "/var/backups/appos", created: true, key: "7c1e9a0f4b2d6e8a3c5f7b9d1e3a5c7f9b1d3e5a7c9f1b3d5e7a9c1f3b5d7e9a", host_key: null, ...over.repository };
  return { repository, key_kept: over.key_kept === undefined ? "keyring" : over.key_kept, used_kept_key: over.used_kept_key ?? false };
}

/** A snapshot as `list_snapshots` answers it: blog and shop, taken an hour ago on web-1 without volumes, unless said otherwise. */
export function snapshot(id: string, over: Partial<Snapshot> = {}): Snapshot {
  return { id, time_ms: Date.now() - 3600_000, host: "web-1", apps: ["blog", "shop"], volumes: false, ...over };
}

/** A backup run as `get_backup_run` answers it: a backup of every app, running, unless said otherwise. */
export function backupRun(id: string, over: Partial<BackupRun> = {}): BackupRun {
  return { id, kind: "backup", app: null, volumes: false, state: "running", snapshot: null, error: null, log: [], actor: "appos-desktop@laptop", created_ms: Date.now() - 2000, finished_ms: null, ...over };
}
