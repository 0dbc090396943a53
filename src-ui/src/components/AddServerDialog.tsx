// "Add server": the form, then the host-key confirmation for a new server,
// or a blocking error for a changed key. A server without the AppOS agent
// gets an offer to install it: its checklist, then the install's progress.
import { useRef, useState, type FormEvent } from "react";
import { CircleCheck, ChevronRight, CircleX, Download, ShieldAlert, ShieldQuestion } from "lucide-react";
import { toUiError, type Backend } from "../api/backend";
import type { AddServerForm, HostKeyPrompt, InstallCheck, InstallForm, ServerEntry, UiError } from "../api/desktop.gen";
import { errorHint, errorTitle } from "../lib/errors";
import { InstallProgressView, type UploadProgress } from "./InstallProgress";
import { Button, Checkbox, cx, Dialog, ErrorAlert, Field, FieldMessage, Input, Spinner } from "./ui";

const empty = { name: "", host: "", port: "22", user: "root", identity: "", agentSocket: "", bootstrapCmd: "", passphrase: "" };
const defaultInstall = { data: "/var/lib/appos", proxy: true, http: "80", https: "443" };
type InstallOptions = typeof defaultInstall;

const validPort = (s: string) => /^\d+$/.test(s.trim()) && Number(s) >= 1 && Number(s) <= 65535;

/** What is wrong with the install options, per field. */
function optionProblems(o: InstallOptions): { data?: string; ports?: string } {
  const out: { data?: string; ports?: string } = {};
  if (!o.data.trim().startsWith("/")) out.data = "The data folder must be an absolute path, like /var/lib/appos.";
  if (o.proxy) {
    if (!validPort(o.http) || !validPort(o.https)) out.ports = "The HTTP and HTTPS ports must be numbers from 1 to 65535.";
    else if (Number(o.http) === Number(o.https)) out.ports = "The HTTP and HTTPS ports must differ.";
  }
  return out;
}

/** The install options as the backend takes them. */
function installOptions(o: InstallOptions): Omit<InstallForm, "server"> {
  return { data: o.data.trim(), proxy_ports: o.proxy ? [Number(o.http), Number(o.https)] : null };
}

/** Which options a checklist was read for: a checklist for other options says nothing. */
const optionsKey = (o: InstallOptions) => JSON.stringify(installOptions(o));

/** Which call the host-key prompt answers. */
type Asker = "add" | "check" | "install";

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
  const [asker, setAsker] = useState<Asker>("add");
  const [changed, setChanged] = useState<UiError | null>(null);
  const [needPassphrase, setNeedPassphrase] = useState(false);
  // The fingerprint the user trusted in this dialog, for the install calls.
  const [accepted, setAccepted] = useState<string | null>(null);
  // add_server said there is no agent: the install is offered.
  const [missing, setMissing] = useState<UiError | null>(null);

  const [view, setView] = useState<"form" | "install">("form");
  const [opts, setOpts] = useState(defaultInstall);
  const [checks, setChecks] = useState<InstallCheck[] | null>(null);
  const [checkedFor, setCheckedFor] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [installing, setInstalling] = useState(false);
  const [steps, setSteps] = useState<string[]>([]);
  const [upload, setUpload] = useState<UploadProgress | null>(null);
  const [installError, setInstallError] = useState<UiError | null>(null);
  // Bumped by every check, install and close: answers of an older one are dropped.
  const run = useRef(0);

  const set = (k: keyof typeof empty) => (e: { target: { value: string } }) => {
    setF({ ...f, [k]: e.target.value });
    // Another server: the key trusted and the agent found missing were another's.
    if (k === "host" || k === "port") setAccepted(null);
    if (k === "host" || k === "port" || k === "user") setMissing(null);
  };
  const setOpt = <K extends keyof InstallOptions>(k: K, v: InstallOptions[K]) => setOpts((o) => ({ ...o, [k]: v }));

  function resetInstall() {
    setChecks(null);
    setCheckedFor(null);
    setChecking(false);
    setInstalling(false);
    setSteps([]);
    setUpload(null);
    setInstallError(null);
  }

  function close() {
    run.current++;
    setF(empty);
    setError(null);
    setPrompt(null);
    setAsker("add");
    setChanged(null);
    setNeedPassphrase(false);
    setBusy(false);
    setAccepted(null);
    setMissing(null);
    setView("form");
    setOpts(defaultInstall);
    resetInstall();
    onClose();
  }

  /** The server part of the form, or null after showing why it is wrong. */
  function serverForm(accept: string | null): AddServerForm | null {
    const port = Number(f.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      setView("form");
      setError({ code: "invalid_input", message: "The port must be a number from 1 to 65535.", host_key: null, fields: [] });
      return null;
    }
    return {
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
  }

  async function submit(accept: string | null) {
    const form = serverForm(accept);
    if (!form) return;
    setBusy(true);
    setError(null);
    setMissing(null);
    try {
      const added = await backend.addServer(form);
      setPrompt(null);
      onAdded(added);
      close();
    } catch (e) {
      const err = toUiError(e);
      if (err.code === "host_key_unknown" && err.host_key) {
        setAsker("add");
        setPrompt(err.host_key);
      } else if (err.code === "host_key_changed") {
        setPrompt(null);
        setChanged(err);
      } else if (err.code === "agent_missing") {
        setPrompt(null);
        setMissing(err);
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

  /** A failed check or install: the host-key prompt, the passphrase, or the error in the install view. */
  function installFailed(err: UiError, what: Asker) {
    if (err.code === "host_key_unknown" && err.host_key) {
      setAsker(what);
      setPrompt(err.host_key);
    } else if (err.code === "host_key_changed") {
      setChanged(err);
    } else if (err.code === "key_encrypted") {
      // The passphrase field is on the server form.
      setNeedPassphrase(true);
      setView("form");
      setError(err);
    } else {
      setInstallError(err);
    }
  }

  async function runCheck(accept: string | null) {
    const server = serverForm(accept);
    if (!server) return;
    const me = ++run.current;
    const key = optionsKey(opts);
    setChecking(true);
    setInstallError(null);
    try {
      const list = await backend.installCheck({ server, ...installOptions(opts) });
      if (me !== run.current) return;
      setChecks(list);
      setCheckedFor(key);
    } catch (e) {
      if (me !== run.current) return;
      setChecks(null);
      setCheckedFor(null);
      installFailed(toUiError(e), "check");
    } finally {
      if (me === run.current) setChecking(false);
    }
  }

  async function runInstall(accept: string | null) {
    const server = serverForm(accept);
    if (!server) return;
    const me = ++run.current;
    const key = optionsKey(opts);
    setInstalling(true);
    setInstallError(null);
    setSteps([]);
    setUpload(null);
    try {
      const added = await backend.installServer({ server, ...installOptions(opts) }, (p) => {
        if (me !== run.current) return;
        if (p.type === "checked") {
          setChecks(p.checks);
          setCheckedFor(key);
        } else if (p.type === "upload") {
          setUpload({ sent: p.sent, total: p.total });
        } else {
          setSteps((s) => [...s, p.message]);
        }
      });
      if (me !== run.current) return;
      onAdded(added);
      close();
    } catch (e) {
      if (me !== run.current) return;
      installFailed(toUiError(e), "install");
    } finally {
      if (me === run.current) setInstalling(false);
    }
  }

  function offerInstall() {
    if (!serverForm(accepted)) return;
    resetInstall();
    setError(null);
    setView("install");
    void runCheck(accepted);
  }

  function acceptKey(p: HostKeyPrompt) {
    setAccepted(p.fingerprint);
    if (asker === "add") {
      void submit(p.fingerprint);
      return;
    }
    setPrompt(null);
    void (asker === "check" ? runCheck(p.fingerprint) : runInstall(p.fingerprint));
  }

  const canSubmit = f.name.trim() && f.host.trim() && f.user.trim() && (auth === "agent" || f.identity.trim());

  const problems = optionProblems(opts);
  const optionsOk = !problems.data && !problems.ports;
  const stale = checks !== null && checkedFor !== optionsKey(opts);
  const failing = checks?.filter((c) => !c.ok) ?? [];
  const canInstall = optionsOk && !checking && !installing && checks !== null && checks.length > 0 && failing.length === 0 && !stale;

  return (
    <>
      <Dialog
        open={open && view === "form" && !prompt && !changed}
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
          {missing && (
            <div role="alert" data-testid="agent-missing" className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2.5 text-sm dark:border-amber-700/60 dark:bg-amber-950/30">
              <p className="font-medium text-amber-900 dark:text-amber-200">AppOS is not installed on this server</p>
              <p data-testid="agent-missing-message" className="mt-0.5 break-words text-amber-800 dark:text-amber-300">
                {missing.message}
              </p>
              <p className="mt-1 text-amber-800/80 dark:text-amber-300/80">
                AppOS can install its agent there now: it checks the server first, and changes nothing until you click Install. If the agent runs
                another way, give the command that runs it under Advanced instead.
              </p>
              <Button type="button" variant="primary" size="sm" className="mt-2.5" data-testid="install-offer" onClick={offerInstall}>
                <Download className="size-4" aria-hidden />
                Install AppOS on this server
              </Button>
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
        open={open && view === "install" && !prompt && !changed}
        // An install runs to its end on the server: the dialog waits for it.
        onClose={installing ? () => undefined : close}
        wide
        title={`Install AppOS on ${f.name.trim()}`}
        testId="install-dialog"
        description={
          <>
            The AppOS agent runs in a Docker container on <b>{f.host.trim()}</b>. Checking changes nothing on the server; installing again
            after a failure is safe.
          </>
        }
        footer={
          <>
            <Button variant="ghost" className="mr-auto" data-testid="install-back" disabled={installing} onClick={() => setView("form")}>
              Back
            </Button>
            <Button variant="ghost" disabled={installing} onClick={close}>
              Cancel
            </Button>
            <Button variant="primary" busy={installing} disabled={!canInstall} data-testid="install-submit" onClick={() => void runInstall(accepted)}>
              {installing ? "Installing…" : "Install"}
            </Button>
          </>
        }
      >
        <div className="space-y-5">
          <section className="space-y-3">
            <Field label="Data folder on the server" htmlFor="install-data" hint="Apps, their files, the agent's database and certificates live here.">
              <Input
                id="install-data"
                data-testid="install-data"
                value={opts.data}
                disabled={installing}
                aria-invalid={!!problems.data}
                onChange={(e) => setOpt("data", e.target.value)}
              />
            </Field>
            <FieldMessage message={problems.data} testId="install-data-error" />
            <div className="space-y-2">
              <Checkbox
                label="Serve domains: reverse proxy on ports"
                data-testid="install-proxy"
                checked={opts.proxy}
                disabled={installing}
                onChange={(e) => setOpt("proxy", e.target.checked)}
              />
              <div className={cx("flex items-center gap-3 pl-6 text-[13px] text-zinc-600 dark:text-zinc-400", !opts.proxy && "opacity-60")}>
                {(["http", "https"] as const).map((k) => (
                  <label key={k} className="flex items-center gap-2">
                    {k.toUpperCase()}
                    <Input
                      data-testid={`install-${k}-port`}
                      aria-label={`${k.toUpperCase()} port`}
                      inputMode="numeric"
                      className="w-20"
                      value={opts[k]}
                      disabled={!opts.proxy || installing}
                      aria-invalid={!!problems.ports}
                      onChange={(e) => setOpt(k, e.target.value)}
                    />
                  </label>
                ))}
              </div>
              <FieldMessage message={problems.ports} testId="install-ports-error" />
              {!opts.proxy && <p className="pl-6 text-xs text-zinc-500 dark:text-zinc-400">Without the proxy, apps are reached on their own ports only, and domains cannot be added.</p>}
            </div>
          </section>

          <section className="space-y-2">
            <div className="flex items-center gap-2">
              <h3 className="text-[13px] font-semibold">Server checklist</h3>
              {checking && <Spinner label="Checking the server…" />}
              <Button size="sm" className="ml-auto" data-testid="install-recheck" disabled={checking || installing || !optionsOk} onClick={() => void runCheck(accepted)}>
                Check again
              </Button>
            </div>
            {checks && (
              <ul data-testid="install-checklist" className={cx("divide-y divide-zinc-100 rounded-lg border border-zinc-200 dark:divide-zinc-800 dark:border-zinc-800", (checking || stale) && "opacity-60")}>
                {checks.map((c) => (
                  <li key={c.item} data-testid={`install-check-${c.item}`} data-ok={c.ok} className="flex items-start gap-2.5 px-3 py-2 text-sm">
                    {c.ok ? (
                      <CircleCheck className="mt-0.5 size-4 shrink-0 text-emerald-600 dark:text-emerald-400" aria-label="passed" />
                    ) : (
                      <CircleX className="mt-0.5 size-4 shrink-0 text-red-600 dark:text-red-400" aria-label="failed" />
                    )}
                    <span className="w-16 shrink-0 font-medium">{c.item}</span>
                    <span data-testid={`install-check-${c.item}-detail`} className={cx("min-w-0 break-words", c.ok ? "text-zinc-600 dark:text-zinc-400" : "text-red-700 dark:text-red-400")}>
                      {c.detail}
                    </span>
                  </li>
                ))}
              </ul>
            )}
            {checks && !checking && stale && (
              <p data-testid="install-stale" className="text-xs text-amber-700 dark:text-amber-400">
                The options changed since this check: check again before installing.
              </p>
            )}
            {checks && !checking && !stale && failing.length > 0 && (
              <p data-testid="install-not-ready" className="text-xs text-red-700 dark:text-red-400">
                Fix what is marked in red on the server, then check again.
              </p>
            )}
          </section>

          {(installing || steps.length > 0 || upload) && (
            <InstallProgressView title="Installing" steps={steps} upload={upload} running={installing} failed={!!installError} testIdPrefix="install" />
          )}

          {installError && <ErrorAlert error={installError} testId="install-error" />}
        </div>
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
            <Button variant="primary" busy={busy} data-testid="host-key-accept" onClick={() => prompt && acceptKey(prompt)}>
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
