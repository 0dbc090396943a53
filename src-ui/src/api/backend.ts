// Every call from the UI to the Rust side goes through this interface: a Tauri
// implementation for the app, a fake one for unit tests.
import { Channel, invoke } from "@tauri-apps/api/core";
import { isPermissionGranted, requestPermission, sendNotification } from "@tauri-apps/plugin-notification";
import { openUrl } from "@tauri-apps/plugin-opener";
import type {
  AddServerForm,
  BackupRepositorySet,
  Connection,
  InstallCheck,
  InstallForm,
  InstallProgress,
  LocalProject,
  ServerEntry,
  StreamItem,
  StreamRequest,
  TerminalEvent,
  TerminalKind,
  TerminalTab,
  UiError,
} from "./desktop.gen";
import type { AgentCallResponse, CallName, CallOf } from "./calls.gen";
import type { RepositoryRequest } from "./types.gen";

/** An open stream; `close()` stops it (safe to call twice or after it ended). */
export interface StreamHandle {
  close(): void;
}

export interface Backend {
  listServers(): Promise<ServerEntry[]>;
  addServer(form: AddServerForm): Promise<ServerEntry>;
  /**
   * Connects to the server of `form.server` over SSH and reads its install
   * checklist; nothing changes on the server.
   */
  installCheck(form: InstallForm): Promise<InstallCheck[]>;
  /**
   * Installs AppOS on that server, then adds it like `addServer`. Progress
   * arrives in `onProgress`: the checklist first (the install stops there,
   * changing nothing, when a line fails), then steps and the image's upload.
   */
  installServer(form: InstallForm, onProgress: (p: InstallProgress) => void): Promise<ServerEntry>;
  /** This desktop's own version: the agent version it installs, and upgrades servers to. */
  desktopVersion(): Promise<string>;
  /** Whether the window has a GPU behind it; without one, terminals draw without WebGL. */
  hasGpu(): Promise<boolean>;
  /**
   * Replaces the agent of an SSH server AppOS installed with this computer's
   * agent image; resolves to the connection to the new agent. Steps and the
   * image's upload arrive in `onProgress`. Apps keep running; a running task
   * gets a few seconds to end, else goes back to the queue. When the new agent
   * does not become healthy the old one runs again and the call rejects.
   */
  upgradeServer(name: string, onProgress: (p: InstallProgress) => void): Promise<Connection>;
  removeServer(name: string): Promise<void>;
  connect(name: string): Promise<Connection>;
  /**
   * Runs one agent API call on a server, e.g.
   * `call(server, { call: "get_app", args: { app: "blog" } })`; resolves to
   * the call's answer or rejects with a UiError.
   */
  call<K extends CallName>(server: string, req: CallOf<K>): Promise<AgentCallResponse[K]>;
  /** Opens a stream; `onItem` sees each item, the last one is `{ type: "end" }`. */
  openStream(server: string, req: StreamRequest, onItem: (item: StreamItem) => void): Promise<StreamHandle>;
  /** A native desktop notification; never fails (no notification daemon is fine). */
  notify(title: string, body: string): Promise<void>;
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
  /**
   * Reads a compose project on this computer: `path` is a compose file, or a
   * folder holding compose.yaml, compose.yml, docker-compose.yaml or
   * docker-compose.yml. Resolves to the compose text, the files it references
   * by relative path and the `.env` beside it; rejects with a UiError whose
   * message names the problem.
   */
  readProject(path: string): Promise<LocalProject>;
  /**
   * Sets a server's backup repository. Without a key, the key this computer
   * keeps for that location is given (`used_kept_key`); a key the agent
   * generates (answered once in `repository.key`) or one given is kept on
   * this computer (`key_kept`: `keyring`, the path of a 0600 file, or null
   * when it could not be kept). Rejects with a UiError whose `fields` name
   * `location`, `key` or `host_key`.
   */
  setBackupRepository(server: string, request: RepositoryRequest): Promise<BackupRepositorySet>;
  /** The key this computer keeps for a server's backup repository; null when it keeps none. */
  backupKey(server: string): Promise<string | null>;
}

/** Turns whatever a call rejected with into a UiError. */
export function toUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const u = e as UiError;
    return { code: u.code, message: u.message, host_key: u.host_key ?? null, fields: u.fields ?? [], ...(u.problem ? { problem: u.problem } : {}) };
  }
  return { code: "other", message: e instanceof Error ? e.message : String(e), host_key: null, fields: [] };
}

async function invokeCmd<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toUiError(e);
  }
}

export const tauriBackend: Backend = {
  listServers: () => invokeCmd("list_servers"),
  addServer: (form) => invokeCmd("add_server", { form }),
  installCheck: (form) => invokeCmd("install_check", { form }),
  installServer: (form, onProgress) => {
    const progress = new Channel<InstallProgress>();
    progress.onmessage = onProgress;
    return invokeCmd<ServerEntry>("install_server", { form, progress });
  },
  desktopVersion: () => invokeCmd("desktop_version"),
  hasGpu: () => invokeCmd("has_gpu"),
  upgradeServer: (name, onProgress) => {
    const progress = new Channel<InstallProgress>();
    progress.onmessage = onProgress;
    return invokeCmd<Connection>("upgrade_server", { name, progress });
  },
  removeServer: (name) => invokeCmd("remove_server", { name }),
  connect: (name) => invokeCmd("connect", { name }),
  call: (server, req) => invokeCmd("agent_call", { server, req }),
  openStream: async (server, req, onItem) => {
    const channel = new Channel<StreamItem>();
    let closed = false;
    channel.onmessage = (item) => {
      if (!closed) onItem(item);
    };
    const id = await invokeCmd<number>("open_stream", { server, req, channel });
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
    return invokeCmd<TerminalTab>("open_terminal", { server, kind, cols, rows, data, events });
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
  terminalResize: (handle, cols, rows) => invokeCmd("terminal_resize", { handle, cols, rows }),
  terminalClose: (handle) => invokeCmd("terminal_close", { handle }),
  readProject: (path) => invokeCmd("read_project", { path }),
  setBackupRepository: (server, request) => invokeCmd("set_backup_repository", { server, request }),
  backupKey: (server) => invokeCmd("backup_key", { server }),
};
