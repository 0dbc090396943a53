// "Add server": the form, then the host-key confirmation for a new server,
// or a blocking error for a changed key.
import { useState, type FormEvent } from "react";
import { ShieldAlert, ShieldQuestion, ChevronRight } from "lucide-react";
import type { Backend } from "../api/backend";
import type { AddServerForm, HostKeyPrompt, ServerEntry, UiError } from "../api/desktop.gen";
import { errorHint, errorTitle } from "../lib/errors";
import { Button, Dialog, Field, Input } from "./ui";

const empty = { name: "", host: "", port: "22", user: "root", identity: "", agentSocket: "", bootstrapCmd: "", passphrase: "" };

export function AddServerDialog({
  backend,
  open,
  onClose,
  onAdded,
}: {
  backend: Backend;
  open: boolean;
  onClose: () => void;
  onAdded: (s: ServerEntry) => void;
}) {
  const [f, setF] = useState(empty);
  const [auth, setAuth] = useState<"agent" | "key">("agent");
  const [advanced, setAdvanced] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [prompt, setPrompt] = useState<HostKeyPrompt | null>(null);
  const [changed, setChanged] = useState<UiError | null>(null);
  const [needPassphrase, setNeedPassphrase] = useState(false);

  const set = (k: keyof typeof empty) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });

  function close() {
    setF(empty);
    setError(null);
    setPrompt(null);
    setChanged(null);
    setNeedPassphrase(false);
    setBusy(false);
    onClose();
  }

  async function submit(accept: string | null) {
    const port = Number(f.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      setError({ code: "invalid_input", message: "The port must be a number from 1 to 65535.", host_key: null, fields: [] });
      return;
    }
    const form: AddServerForm = {
      name: f.name.trim(),
      host: f.host.trim(),
      port,
      user: f.user.trim(),
      identity: auth === "key" && f.identity.trim() ? f.identity.trim() : null,
      agent_socket: f.agentSocket.trim() || null,
      bootstrap_cmd: f.bootstrapCmd.trim() || null,
      accept_fingerprint: accept,
      passphrase: needPassphrase && f.passphrase ? f.passphrase : null,
    };
    setBusy(true);
    setError(null);
    try {
      const added = await backend.addServer(form);
      setPrompt(null);
      onAdded(added);
      close();
    } catch (e) {
      const err = e as UiError;
      if (err.code === "host_key_unknown" && err.host_key) {
        setPrompt(err.host_key);
      } else if (err.code === "host_key_changed") {
        setPrompt(null);
        setChanged(err);
      } else {
        if (err.code === "key_encrypted") setNeedPassphrase(true);
        setPrompt(null);
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    void submit(null);
  }

  const canSubmit = f.name.trim() && f.host.trim() && f.user.trim() && (auth === "agent" || f.identity.trim());

  return (
    <>
      <Dialog
        open={open && !prompt && !changed}
        onClose={close}
        title="Add server"
        testId="add-server-dialog"
        description="AppOS connects over SSH, checks the server's host key and gets a token from the AppOS agent there."
      >
        <form className="space-y-4" onSubmit={onSubmit}>
          <Field label="Name" htmlFor="srv-name" hint="How this server appears in the sidebar.">
            <Input id="srv-name" data-testid="srv-name" value={f.name} onChange={set("name")} placeholder="production" autoFocus />
          </Field>
          <div className="grid grid-cols-[1fr_6rem] gap-3">
            <Field label="Host" htmlFor="srv-host">
              <Input id="srv-host" data-testid="srv-host" value={f.host} onChange={set("host")} placeholder="203.0.113.10 or an ~/.ssh/config alias" />
            </Field>
            <Field label="Port" htmlFor="srv-port">
              <Input id="srv-port" data-testid="srv-port" inputMode="numeric" value={f.port} onChange={set("port")} />
            </Field>
          </div>
          <Field label="User" htmlFor="srv-user">
            <Input id="srv-user" data-testid="srv-user" value={f.user} onChange={set("user")} />
          </Field>
          <fieldset className="space-y-2">
            <legend className="text-[13px] font-medium text-zinc-700 dark:text-zinc-300">Authentication</legend>
            <div className="grid grid-cols-2 gap-2">
              {(["agent", "key"] as const).map((k) => (
                <label
                  key={k}
                  className={`flex cursor-pointer items-center gap-2 rounded-md border px-3 py-2 text-sm ${
                    auth === k
                      ? "border-indigo-500 bg-indigo-50/60 dark:bg-indigo-500/10"
                      : "border-zinc-200 dark:border-zinc-700"
                  }`}
                >
                  <input type="radio" name="auth" data-testid={`auth-${k}`} checked={auth === k} onChange={() => setAuth(k)} />
                  {k === "agent" ? "ssh-agent & default keys" : "Key file"}
                </label>
              ))}
            </div>
            {auth === "key" && (
              <Input data-testid="srv-identity" aria-label="Key file" value={f.identity} onChange={set("identity")} placeholder="/home/me/.ssh/id_ed25519" />
            )}
          </fieldset>
          {needPassphrase && (
            <Field label="Key passphrase" htmlFor="srv-passphrase">
              <Input id="srv-passphrase" data-testid="srv-passphrase" type="password" autoComplete="off" value={f.passphrase} onChange={set("passphrase")} autoFocus />
            </Field>
          )}
          <button
            type="button"
            className="flex items-center gap-1 text-[13px] font-medium text-zinc-600 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100"
            onClick={() => setAdvanced(!advanced)}
          >
            <ChevronRight className={`size-4 transition-transform ${advanced ? "rotate-90" : ""}`} /> Advanced
          </button>
          {advanced && (
            <div className="space-y-3">
              <Field label="Agent socket on the server" htmlFor="srv-socket" hint="Default: /var/lib/appos/run/agent.sock">
                <Input id="srv-socket" data-testid="srv-socket" value={f.agentSocket} onChange={set("agentSocket")} />
              </Field>
              <Field label="Command that runs the agent" htmlFor="srv-boot" hint="Default: appos-agent. For a container: docker exec appos appos-agent">
                <Input id="srv-boot" data-testid="srv-boot" value={f.bootstrapCmd} onChange={set("bootstrapCmd")} />
              </Field>
            </div>
          )}
          {error && (
            <div role="alert" data-testid="add-server-error" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm dark:border-red-900 dark:bg-red-950/40">
              <p className="font-medium text-red-800 dark:text-red-300">{errorTitle(error)}</p>
              <p className="mt-0.5 break-words text-red-700 dark:text-red-400">{error.message}</p>
              {errorHint(error) && <p className="mt-1 text-red-700/80 dark:text-red-400/80">{errorHint(error)}</p>}
            </div>
          )}
          <div className="flex justify-end gap-2 pt-1">
            <Button type="button" variant="ghost" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" variant="primary" busy={busy} disabled={!canSubmit} data-testid="add-server-submit">
              {busy ? "Connecting…" : "Connect"}
            </Button>
          </div>
        </form>
      </Dialog>

      <Dialog
        open={open && !!prompt}
        onClose={() => setPrompt(null)}
        title="Trust this server?"
        testId="host-key-dialog"
        description={
          <span className="flex gap-2">
            <ShieldQuestion className="mt-0.5 size-5 shrink-0 text-amber-500" />
            <span>
              This is the first connection to <b>{prompt?.host}</b>. Compare the fingerprint below with the one the server shows
              (<code className="font-mono text-xs">ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code>) before you trust it.
            </span>
          </span>
        }
        footer={
          <>
            <Button variant="ghost" onClick={() => setPrompt(null)}>
              Cancel
            </Button>
            <Button variant="primary" busy={busy} data-testid="host-key-accept" onClick={() => prompt && void submit(prompt.fingerprint)}>
              Trust and connect
            </Button>
          </>
        }
      >
        <div className="rounded-md bg-zinc-100 px-3 py-2 font-mono text-[13px] break-all dark:bg-zinc-800">
          <div className="text-xs text-zinc-500">{prompt?.algorithm}</div>
          <div data-testid="host-key-fingerprint">{prompt?.fingerprint}</div>
        </div>
      </Dialog>

      <Dialog
        open={open && !!changed}
        onClose={close}
        tone="danger"
        title="The server's host key has changed"
        testId="host-key-changed-dialog"
        description={
          <span className="flex gap-2">
            <ShieldAlert className="mt-0.5 size-5 shrink-0 text-red-500" />
            <span>AppOS will not connect. Someone may be intercepting the connection, or the server was reinstalled.</span>
          </span>
        }
        footer={<Button onClick={close}>Close</Button>}
      >
        <p className="font-mono text-xs break-words text-zinc-700 dark:text-zinc-300">{changed?.message}</p>
      </Dialog>
    </>
  );
}
