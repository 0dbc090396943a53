// Every call from the UI to the Rust side goes through this interface: a Tauri
// implementation for the app, a fake one for unit tests.
import { invoke } from "@tauri-apps/api/core";
import type { AddServerForm, Connection, ServerEntry, UiError } from "./desktop.gen";
import type { App } from "./types.gen";

export interface Backend {
  listServers(): Promise<ServerEntry[]>;
  addServer(form: AddServerForm): Promise<ServerEntry>;
  removeServer(name: string): Promise<void>;
  connect(name: string): Promise<Connection>;
  listApps(name: string): Promise<App[]>;
}

/** Turns whatever a call rejected with into a UiError. */
export function toUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const u = e as UiError;
    return { code: u.code, message: u.message, host_key: u.host_key ?? null };
  }
  return { code: "other", message: e instanceof Error ? e.message : String(e), host_key: null };
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
};
