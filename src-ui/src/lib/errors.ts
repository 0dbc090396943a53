import type { ErrorClass, UiError } from "../api/desktop.gen";

const titles: Record<ErrorClass, string> = {
  host_key_unknown: "Unknown host key",
  host_key_changed: "Host key changed",
  auth_rejected: "Authentication refused",
  key_encrypted: "Key passphrase needed",
  unreachable: "Server unreachable",
  agent_missing: "AppOS agent not reachable",
  unauthorized: "Token rejected",
  forbidden: "Not allowed",
  docker_unavailable: "Docker is not reachable",
  invalid_input: "Check the form",
  not_found: "Not found",
  conflict: "Cannot do that now",
  other: "Something went wrong",
};

const hints: Partial<Record<ErrorClass, string>> = {
  auth_rejected: "Check the user name and the key. Without a key file, AppOS tries your ssh-agent and ~/.ssh/id_* keys.",
  unreachable: "Check the host name and port, and that the server is up.",
  key_encrypted: "Enter the passphrase of your SSH key below. It is kept in your OS keyring, never in a file.",
  agent_missing: "Install the AppOS agent on the server, or give the command that runs it under Advanced.",
  unauthorized: "The server no longer accepts this computer's token. Remove the server and add it again.",
  forbidden: "This token may only look; ask an admin for a token with more rights.",
  docker_unavailable: "The agent runs, but Docker does not answer. Start Docker on the server.",
};

export function errorTitle(e: UiError): string {
  return titles[e.code] ?? titles.other;
}

export function errorHint(e: UiError): string | undefined {
  return hints[e.code];
}
