// Deploying a compose project from this computer: the desktop reads the
// compose file, the files it references and its .env, the agent checks them,
// and they are sent to the server as a new app.
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { FileCode, FolderOpen, KeyRound, Rocket } from "lucide-react";
import { toUiError } from "../api/backend";
import type { LocalProject, UiError } from "../api/desktop.gen";
import type { ComposeCheck, ComposeCheckRequest } from "../api/types.gen";
import { base64Size, fmtBytes } from "../lib/format";
import { useDebouncedValue } from "../lib/hooks";
import { useServer } from "../lib/server";
import { NAME_RE } from "../lib/format";
import { HostAccessList, useHostAccessConsent } from "./HostAccess";
import { Badge, Button, cx, Dialog, ErrorAlert, FieldMessage, Input, Skeleton, Spinner } from "./ui";

/** The agent checks the project with the typed name this long after the last keystroke. */
const CHECK_DEBOUNCE_MS = 400;

const NAME_RULE = "Use 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit.";

/** The folder a path names: the path itself, or for a compose file the folder holding it. */
export function folderName(path: string): string {
  const parts = path.trim().split(/[\\/]+/).filter(Boolean);
  if (parts.length && /\.ya?ml$/i.test(parts[parts.length - 1])) parts.pop();
  const last = parts[parts.length - 1] ?? "";
  return last === "~" || last === "." || last === ".." ? "" : last;
}

/** A folder's name as an app name: lowercase, only a-z 0-9 _ -, starting with a letter or digit. */
export function appNameFrom(folder: string): string {
  return folder
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "")
    .replace(/^[_-]+/, "")
    .slice(0, 63);
}

export function DeployFolderDialog({ onClose }: { onClose: () => void }) {
  const { backend, server, nav } = useServer();
  const consent = useHostAccessConsent();

  const [path, setPath] = useState("");
  const [name, setName] = useState("");
  /** The user typed a name: reading no longer replaces it. */
  const nameEdited = useRef(false);

  const [project, setProject] = useState<LocalProject | null>(null);
  const [reading, setReading] = useState(false);
  const [readError, setReadError] = useState<UiError | null>(null);
  const readGen = useRef(0);
  /** The path being read now, so a blur and a click read it once. */
  const inFlight = useRef<string | null>(null);
  /** The path last read (or tried): leaving the field reads only a new one. */
  const lastTried = useRef<string | null>(null);

  const [check, setCheck] = useState<ComposeCheck | null>(null);
  const [checkError, setCheckError] = useState<UiError | null>(null);
  const [checking, setChecking] = useState(false);

  const [busy, setBusy] = useState(false);
  const [deployError, setDeployError] = useState<UiError | null>(null);

  const nameValid = NAME_RE.test(name);

  const doRead = useCallback(
    async (p: string) => {
      if (!p || inFlight.current === p) return;
      const my = ++readGen.current;
      inFlight.current = p;
      lastTried.current = p;
      setReading(true);
      setProject(null);
      setReadError(null);
      setCheck(null);
      setCheckError(null);
      setDeployError(null);
      try {
        const proj = await backend.readProject(p);
        if (my !== readGen.current) return;
        setProject(proj);
        if (!nameEdited.current) setName(appNameFrom(folderName(proj.compose_path)));
      } catch (e) {
        if (my !== readGen.current) return;
        setReadError(toUiError(e));
      } finally {
        if (my === readGen.current) {
          inFlight.current = null;
          setReading(false);
        }
      }
    },
    [backend],
  );

  const changePath = (v: string) => {
    setPath(v);
    if (!nameEdited.current) setName(appNameFrom(folderName(v)));
    lastTried.current = null;
    // What was read belongs to the old path: read again before deploying.
    if (project || readError || reading) {
      readGen.current++;
      inFlight.current = null;
      setReading(false);
      setProject(null);
      setReadError(null);
      setCheck(null);
      setCheckError(null);
      setDeployError(null);
    }
  };

  // The agent's check: services, host access and mistakes, for the name as typed.
  const settled = useDebouncedValue(name, CHECK_DEBOUNCE_MS);
  const checkName = settled === name && NAME_RE.test(name) ? name : null;
  useEffect(() => {
    if (!project || checkName === null) return;
    let live = true;
    setChecking(true);
    const args: ComposeCheckRequest = { name: checkName, compose: project.compose, catalog: null, files: project.files, env: project.env };
    backend
      .call(server, { call: "check_compose", args })
      .then(
        (c) => {
          if (!live) return;
          setCheck(c);
          setCheckError(null);
        },
        (e) => {
          if (!live) return;
          setCheck(null);
          setCheckError(toUiError(e));
        },
      )
      .finally(() => live && setChecking(false));
    return () => {
      live = false;
      setChecking(false);
    };
  }, [backend, server, project, checkName]);

  async function deploy() {
    if (!project || !nameValid) return;
    setBusy(true);
    setDeployError(null);
    try {
      const req = { name, compose: project.compose, catalog: null, files: project.files, env: project.env };
      const allow = await consent.ask(req, "deploy");
      if (allow === null) return;
      const r = await backend.call(server, { call: "deploy_app", args: { ...req, message: null, allow_host_access: allow } });
      const secrets = Object.keys(r.generated).length ? r.generated : undefined;
      onClose();
      nav.go({ view: "deployment", id: r.deployment_id, secrets });
    } catch (e) {
      setDeployError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  const nameError = name && !nameValid ? NAME_RULE : !name && project ? "The app needs a name." : undefined;
  const readNow = () => void doRead(path.trim());

  return (
    <>
      <Dialog
        open
        wide
        // Not while a deploy (or its consent) is under way.
        onClose={() => !busy && onClose()}
        title="Deploy a compose file"
        testId="deploy-folder-dialog"
        description={
          <>
            From a project on this computer: AppOS reads its compose file, the files it references by relative path (config files, env files, build contexts) and the{" "}
            <code className="font-mono text-xs">.env</code> beside it, and sends them to <b className="text-zinc-800 dark:text-zinc-200">{server}</b> as a new app.
          </>
        }
        footer={
          <>
            <Button type="button" variant="secondary" data-testid="deploy-folder-cancel" disabled={busy} onClick={onClose}>
              Cancel
            </Button>
            <Button
              type="button"
              variant="primary"
              data-testid="deploy-folder-submit"
              busy={busy && !consent.asking}
              disabled={busy || reading || !project || !nameValid}
              onClick={() => void deploy()}
            >
              <Rocket className="size-4" /> {busy && !consent.asking ? "Starting the deployment…" : "Deploy"}
            </Button>
          </>
        }
      >
        <div className="space-y-4">
          <div className="space-y-1.5">
            <label htmlFor="deploy-folder-path" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
              Project folder or compose file on this computer
            </label>
            <div className="flex gap-1.5">
              <Input
                id="deploy-folder-path"
                data-testid="deploy-folder-path"
                autoFocus
                spellCheck={false}
                autoComplete="off"
                className="font-mono"
                placeholder="~/projects/blog or ~/projects/blog/compose.yml"
                value={path}
                onChange={(e) => changePath(e.target.value)}
                onBlur={() => {
                  // Reads once per path; the Read button reads again.
                  if (path.trim() !== lastTried.current) readNow();
                }}
                onKeyDown={(e) => {
                  if (e.key === "Enter") {
                    e.preventDefault();
                    readNow();
                  }
                }}
              />
              <Button type="button" variant="secondary" data-testid="deploy-folder-read" busy={reading} disabled={!path.trim() || reading || busy} onClick={readNow}>
                <FolderOpen className="size-4" /> Read
              </Button>
            </div>
          </div>

          <div className="space-y-1.5">
            <label htmlFor="deploy-folder-name" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
              App name
            </label>
            <Input
              id="deploy-folder-name"
              data-testid="deploy-folder-name"
              spellCheck={false}
              autoComplete="off"
              aria-invalid={!!nameError}
              className={cx("max-w-sm font-mono", nameError && "border-red-400 dark:border-red-700")}
              value={name}
              onChange={(e) => {
                nameEdited.current = true;
                setName(e.target.value);
              }}
            />
            {nameError ? (
              <FieldMessage message={nameError} testId="deploy-folder-name-error" />
            ) : (
              <p className="text-xs text-zinc-500">Also the compose project name on the server. Taken from the folder's name; change it if you like.</p>
            )}
          </div>

          {readError && <ErrorAlert error={readError} title="Could not read the project" testId="deploy-folder-read-error" />}
          {reading && (
            <div className="space-y-2" aria-busy="true">
              <Spinner label="Reading the project…" />
              <Skeleton className="h-16" />
            </div>
          )}
          {project && <ProjectSummary project={project} check={check} checking={checking} checkError={checkError} />}
          {deployError && (
            <ErrorAlert error={deployError} testId="deploy-folder-deploy-error" title={deployError.code === "invalid_input" ? "The server refused this deployment" : undefined} />
          )}
        </div>
      </Dialog>
      {consent.dialog}
    </>
  );
}

function Section({ title, icon, children, testId }: { title: ReactNode; icon: ReactNode; children: ReactNode; testId?: string }) {
  return (
    <section data-testid={testId}>
      <h3 className="mb-1.5 flex items-center gap-1.5 text-[13px] font-semibold text-zinc-700 dark:text-zinc-300">
        {icon}
        {title}
      </h3>
      {children}
    </section>
  );
}

/** What was read: the compose file, its services (from the agent's check), the files and the .env's names. */
function ProjectSummary({ project, check, checking, checkError }: { project: LocalProject; check: ComposeCheck | null; checking: boolean; checkError: UiError | null }) {
  const sizes = project.files.map((f) => base64Size(f.content));
  const total = sizes.reduce((a, b) => a + b, 0);
  const envKeys = Object.keys(project.env).sort();
  const services = check ? Object.entries(check.services).sort(([a], [b]) => a.localeCompare(b)) : [];
  return (
    <div className="space-y-4 rounded-lg border border-zinc-200 px-4 py-3 dark:border-zinc-800" data-testid="deploy-folder-project">
      <Section title="Compose file" icon={<FileCode className="size-4 text-zinc-400" />}>
        <p className="font-mono text-xs break-all text-zinc-700 dark:text-zinc-300" data-testid="deploy-folder-compose-path">
          {project.compose_path}
        </p>
      </Section>

      <Section title="Services" icon={<Rocket className="size-4 text-zinc-400" />} testId="deploy-folder-services">
        {checkError ? (
          <ErrorAlert error={checkError} title={checkError.code === "invalid_input" ? "The server finds problems in this project" : "Could not check the project"} testId="deploy-folder-check-error" />
        ) : check ? (
          <ul className="space-y-0.5 text-sm">
            {services.map(([svc, image]) => (
              <li key={svc} data-testid={`deploy-folder-service-${svc}`}>
                <span className="font-medium">{svc}</span> <span className="font-mono text-xs text-zinc-500">{image}</span>
              </li>
            ))}
            {services.length === 0 && <li className="text-zinc-500">None.</li>}
          </ul>
        ) : checking ? (
          <Spinner label="Checking with the server…" />
        ) : (
          <p className="text-xs text-zinc-500">Checked with the server once the app has a valid name.</p>
        )}
        {check && check.host_access.length > 0 && (
          <div className="mt-2 rounded-lg border border-amber-300 bg-amber-50 px-3 py-2.5 dark:border-amber-700/60 dark:bg-amber-950/30" data-testid="deploy-folder-host-access">
            <p className="mb-2 text-[13px] font-medium text-amber-900 dark:text-amber-200">This app needs access to the server</p>
            <HostAccessList items={check.host_access} />
            <p className="mt-2 text-xs text-amber-900/80 dark:text-amber-200/80">You are asked to allow it when you deploy.</p>
          </div>
        )}
      </Section>

      <Section
        title={
          <>
            Files sent with it
            <span className="font-normal text-zinc-500" data-testid="deploy-folder-files-total">
              {project.files.length === 1 ? "1 file" : `${project.files.length} files`}, {fmtBytes(total)}
            </span>
          </>
        }
        icon={<FolderOpen className="size-4 text-zinc-400" />}
        testId="deploy-folder-files"
      >
        {project.files.length === 0 ? (
          <p className="text-xs text-zinc-500">None: the compose file references no local files.</p>
        ) : (
          <ul className="max-h-48 divide-y divide-zinc-100 overflow-y-auto rounded-md border border-zinc-200 text-xs dark:divide-zinc-800 dark:border-zinc-800">
            {project.files.map((f, i) => (
              <li key={f.path} className="flex items-center gap-2 px-2.5 py-1" data-testid="deploy-folder-file" data-path={f.path}>
                <span className="min-w-0 flex-1 truncate font-mono" title={f.path}>
                  {f.path}
                </span>
                {f.executable && <Badge>executable</Badge>}
                <span className="shrink-0 text-zinc-500 tabular-nums">{fmtBytes(sizes[i])}</span>
              </li>
            ))}
          </ul>
        )}
      </Section>

      <Section title="Variables from .env" icon={<KeyRound className="size-4 text-zinc-400" />} testId="deploy-folder-env">
        {envKeys.length === 0 ? (
          <p className="text-xs text-zinc-500">No .env beside the compose file.</p>
        ) : (
          <>
            <div className="flex flex-wrap gap-1.5">
              {envKeys.map((k) => (
                <code key={k} className="rounded bg-zinc-100 px-1.5 py-0.5 font-mono text-xs dark:bg-zinc-800" data-testid="deploy-folder-env-key">
                  {k}
                </code>
              ))}
            </div>
            <p className="mt-1 text-xs text-zinc-500">Their values are written to the app's .env on the server (mode 0600); they are not shown here.</p>
          </>
        )}
      </Section>
    </div>
  );
}
