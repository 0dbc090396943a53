// Every call from the UI to the Rust side goes through this interface: a Tauri
// implementation for the app, a fake one for unit tests.
import { Channel, invoke } from "@tauri-apps/api/core";
import { isPermissionGranted, requestPermission, sendNotification } from "@tauri-apps/plugin-notification";
import { openUrl } from "@tauri-apps/plugin-opener";
import type {
  AddServerForm,
  Connection,
  ServerEntry,
  StreamItem,
  StreamRequest,
  TerminalEvent,
  TerminalKind,
  TerminalTab,
  UiError,
} from "./desktop.gen";
import type {
  App,
  AppVersion,
  AppVersionDetail,
  CatalogEntry,
  ComposeCheck,
  ComposeCheckRequest,
  DeployAccepted,
  DeployRequest,
  Deployment,
  SaveVersionRequest,
  Terminal,
  VersionSaved,
} from "./types.gen";

export type AppAction = "start" | "stop" | "restart" | "update";

/** An open stream; `close()` stops it (safe to call twice or after it ended). */
export interface StreamHandle {
  close(): void;
}

export interface Backend {
  listServers(): Promise<ServerEntry[]>;
  addServer(form: AddServerForm): Promise<ServerEntry>;
  removeServer(name: string): Promise<void>;
  connect(name: string): Promise<Connection>;
  listApps(name: string): Promise<App[]>;
  getApp(server: string, app: string): Promise<App>;
  catalog(server: string, search?: string): Promise<CatalogEntry[]>;
  deploy(server: string, req: DeployRequest): Promise<DeployAccepted>;
  checkCompose(server: string, req: ComposeCheckRequest): Promise<ComposeCheck>;
  listDeployments(server: string, app?: string): Promise<Deployment[]>;
  getDeployment(server: string, id: string): Promise<Deployment>;
  cancelDeployment(server: string, id: string): Promise<Deployment>;
  appAction(server: string, app: string, action: AppAction): Promise<Deployment>;
  redeploy(server: string, app: string): Promise<VersionSaved>;
  deleteApp(server: string, app: string, volumes: boolean): Promise<Deployment>;
  listVersions(server: string, app: string): Promise<AppVersion[]>;
  getVersion(server: string, app: string, version: number): Promise<AppVersionDetail>;
  diffVersions(server: string, app: string, from: number, to: number): Promise<string>;
  saveVersion(server: string, app: string, req: SaveVersionRequest): Promise<VersionSaved>;
  rollback(server: string, app: string, version: number, pinDigests: boolean): Promise<VersionSaved>;
  /** Opens a stream; `onItem` sees each item, the last one is `{ type: "end" }`. */
  openStream(server: string, req: StreamRequest, onItem: (item: StreamItem) => void): Promise<StreamHandle>;
  /** A native desktop notification; never fails (no notification daemon is fine). */
  notify(title: string, body: string): Promise<void>;
  /** Makes a compose project started outside AppOS an app (version 1). */
  adoptApp(server: string, project: string): Promise<VersionSaved>;
  /** Opens a URL in the system browser. */
  openUrl(url: string): Promise<void>;
  /**
   * Opens a terminal tab. Output arrives as raw bytes in `onData` (coalesced
   * by the Rust side); `onEvent` hears the end of the replay, the exit status
   * or a lost connection.
   */
  openTerminal(
    server: string,
    kind: TerminalKind,
    cols: number,
    rows: number,
    onData: (bytes: Uint8Array) => void,
    onEvent: (e: TerminalEvent) => void,
  ): Promise<TerminalTab>;
  /** Keystrokes or a paste, as UTF-8 text or raw bytes. */
  terminalInput(handle: number, data: string | Uint8Array): Promise<void>;
  terminalResize(handle: number, cols: number, rows: number): Promise<void>;
  /** Closes the tab's connection; an agent session lives on and can be reattached. */
  terminalClose(handle: number): Promise<void>;
  /** The agent's open sessions (to reattach after a reconnect). */
  listTerminals(server: string): Promise<Terminal[]>;
  /** Ends an agent session and its process. */
  killTerminal(server: string, id: string): Promise<void>;
}

/** Turns whatever a call rejected with into a UiError. */
export function toUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const u = e as UiError;
    return { code: u.code, message: u.message, host_key: u.host_key ?? null, fields: u.fields ?? [] };
  }
  return { code: "other", message: e instanceof Error ? e.message : String(e), host_key: null, fields: [] };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toUiError(e);
  }
}

export const tauriBackend: Backend = {
  listServers: () => call("list_servers"),
  addServer: (form) => call("add_server", { form }),
  removeServer: (name) => call("remove_server", { name }),
  connect: (name) => call("connect", { name }),
  listApps: (name) => call("list_apps", { name }),
  getApp: (server, app) => call("get_app", { server, app }),
  catalog: (server, search) => call("catalog", { server, search: search ?? null }),
  deploy: (server, req) => call("deploy", { server, req }),
  checkCompose: (server, req) => call("check_compose", { server, req }),
  listDeployments: (server, app) => call("list_deployments", { server, app: app ?? null }),
  getDeployment: (server, id) => call("get_deployment", { server, id }),
  cancelDeployment: (server, id) => call("cancel_deployment", { server, id }),
  appAction: (server, app, action) => call("app_action", { server, app, action }),
  redeploy: (server, app) => call("redeploy", { server, app }),
  deleteApp: (server, app, volumes) => call("delete_app", { server, app, volumes }),
  listVersions: (server, app) => call("list_versions", { server, app }),
  getVersion: (server, app, version) => call("get_version", { server, app, version }),
  diffVersions: (server, app, from, to) => call("diff_versions", { server, app, from, to }),
  saveVersion: (server, app, req) => call("save_version", { server, app, req }),
  rollback: (server, app, version, pinDigests) => call("rollback", { server, app, version, pinDigests }),
  openStream: async (server, req, onItem) => {
    const channel = new Channel<StreamItem>();
    let closed = false;
    channel.onmessage = (item) => {
      if (!closed) onItem(item);
    };
    const id = await call<number>("open_stream", { server, req, channel });
    return {
      close: () => {
        if (closed) return;
        closed = true;
        void invoke("close_stream", { id }).catch(() => undefined);
      },
    };
  },
  notify: async (title, body) => {
    try {
      let granted = await isPermissionGranted();
      if (!granted) granted = (await requestPermission()) === "granted";
      if (granted) sendNotification({ title, body });
    } catch {
      // No notification daemon, or the plugin is missing: the UI goes on without.
    }
  },
  adoptApp: (server, project) => call("adopt_app", { server, project }),
  openUrl: async (url) => {
    if (!/^https?:\/\//.test(url)) throw toUiError({ code: "invalid_input", message: `not a web link: ${url}` });
    try {
      await openUrl(url);
    } catch (e) {
      throw toUiError(e);
    }
  },
  openTerminal: async (server, kind, cols, rows, onData, onEvent) => {
    const data = new Channel<ArrayBuffer>();
    data.onmessage = (buf) => onData(new Uint8Array(buf));
    const events = new Channel<TerminalEvent>();
    events.onmessage = onEvent;
    return call<TerminalTab>("open_terminal", { server, kind, cols, rows, data, events });
  },
  terminalInput: async (handle, input) => {
    // The raw request body: no JSON encoding of every keystroke or paste.
    const body = typeof input === "string" ? new TextEncoder().encode(input) : input;
    try {
      await invoke("terminal_input", body, { headers: { "appos-terminal": String(handle) } });
    } catch (e) {
      throw toUiError(e);
    }
  },
  terminalResize: (handle, cols, rows) => call("terminal_resize", { handle, cols, rows }),
  terminalClose: (handle) => call("terminal_close", { handle }),
  listTerminals: (server) => call("list_terminals", { server }),
  killTerminal: (server, id) => call("kill_terminal", { server, id }),
};
