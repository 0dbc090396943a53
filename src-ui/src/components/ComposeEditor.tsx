// The app's compose file in CodeMirror: YAML checked on each change, the
// agent's check a moment later, and "save (and deploy)" as a new version.
import { useEffect, useMemo, useRef, useState } from "react";
import { CircleCheck, CircleX, FileCode, LoaderCircle, RotateCcw, Save } from "lucide-react";
import { toUiError } from "../api/backend";
import type { UiError } from "../api/desktop.gen";
import type { AppVersionDetail, ComposeCheck, FieldError } from "../api/types.gen";
import { fmtAgo } from "../lib/format";
import { newHostAccess } from "../lib/hostaccess";
import { useLoad } from "../lib/hooks";
import { useServer } from "../lib/server";
import { useSessionState } from "../lib/session";
import { locateField, parseYaml } from "../lib/yamlcheck";
import { CodeEditor, type Diagnostic } from "./CodeEditor";
import { HostAccessList, useHostAccessConsent } from "./HostAccess";
import { Button, Checkbox, cx, EmptyState, ErrorAlert, Input, LoadingBlock } from "./ui";

/** The agent checks the file this long after the last change. */
export const CHECK_DEBOUNCE_MS = 600;

type Check =
  | { status: "idle" }
  | { status: "checking" }
  | { status: "valid"; result: ComposeCheck }
  | { status: "invalid"; fields: FieldError[]; error: UiError; source: "check" | "save" };

interface Draft {
  text: string;
  /** The version the draft started from. */
  base: number | null;
}

async function newestVersion(list: Promise<{ version: number }[]>, get: (v: number) => Promise<AppVersionDetail>) {
  const versions = await list;
  if (versions.length === 0) return null;
  const newest = versions.reduce((a, b) => (b.version > a.version ? b : a));
  return get(newest.version);
}

export function ComposeEditor({ app }: { app: string }) {
  const { backend, server, nav } = useServer();
  const base = useLoad(
    () => newestVersion(backend.call(server, { call: "list_versions", args: { app } }), (version) => backend.call(server, { call: "get_version", args: { app, version } })),
    [backend, server, app],
  );
  const [draft, setDraft] = useSessionState<Draft | null>(`compose:${server}:${app}`, null);
  const [message, setMessage] = useSessionState(`compose-msg:${server}:${app}`, "");
  const [deploy, setDeploy] = useSessionState(`compose-deploy:${server}:${app}`, true);
  const [check, setCheck] = useState<Check>({ status: "idle" });
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<UiError | null>(null);
  const [saved, setSaved] = useState<{ version: number; deployed: boolean } | null>(null);
  const consent = useHostAccessConsent();

  const b = base.data;
  const baseText = b?.compose ?? "";
  // Start editing from the newest version, unless an unsaved draft is waiting.
  useEffect(() => {
    if (b && draft === null) setDraft({ text: b.compose, base: b.version.version });
  }, [b, draft, setDraft]);
  const text = draft?.text ?? baseText;
  const dirty = !!b && text !== baseText;
  const stale = !!b && !!draft && dirty && draft.base !== b.version.version;

  const parsed = useMemo(() => parseYaml(text), [text]);
  const syntax = parsed.errors;

  // The agent's check, debounced; answers for an older text are dropped.
  const seq = useRef(0);
  useEffect(() => {
    const my = ++seq.current;
    if (!b || syntax.length || !text.trim()) {
      setCheck({ status: "idle" });
      return;
    }
    setCheck({ status: "checking" });
    const t = setTimeout(() => {
      backend.call(server, { call: "check_compose", args: { name: app, compose: text, catalog: null, files: null, env: null } }).then(
        (result) => my === seq.current && setCheck({ status: "valid", result }),
        (e) => {
          if (my !== seq.current) return;
          const err = toUiError(e);
          setCheck({ status: "invalid", fields: err.fields, error: err, source: "check" });
        },
      );
    }, CHECK_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [backend, server, app, text, b, syntax.length]);

  const diagnostics: Diagnostic[] = useMemo(() => {
    const out: Diagnostic[] = syntax.map((e) => ({ from: e.from, to: e.to, severity: "error", message: e.message, source: "YAML" }));
    if (check.status === "invalid")
      for (const f of check.fields) {
        const at = locateField(text, parsed.doc, f.field);
        if (at) out.push({ from: at.from, to: at.to, severity: "error", message: `${f.field}: ${f.message}`, source: "agent" });
      }
    return out;
  }, [syntax, check, text, parsed.doc]);

  async function save() {
    setSaving(true);
    setSaveError(null);
    setSaved(null);
    try {
      const allow = await consent.ask({ name: app, compose: text, catalog: null, files: null, env: null }, deploy ? "deploy" : "save");
      if (allow === null) return;
      const r = await backend.call(server, { call: "save_version", args: { app, request: { compose: text, files: null, env: null, message: message.trim() || null, deploy, allow_host_access: allow } } });
      setDraft({ text, base: r.version });
      setMessage("");
      setSaved({ version: r.version, deployed: !!r.deployment_id });
      await base.reload();
      if (r.deployment_id) nav.go({ view: "deployment", id: r.deployment_id });
    } catch (e) {
      const err = toUiError(e);
      if (err.code === "invalid_input" && err.fields.length) {
        seq.current++;
        setCheck({ status: "invalid", fields: err.fields, error: err, source: "save" });
      } else setSaveError(err);
    } finally {
      setSaving(false);
    }
  }

  if (base.error && !b) return <ErrorAlert error={base.error} title="Could not load the compose file" testId="compose-load-error" onRetry={() => void base.reload()} />;
  if (base.loading && !b)
    return (
      <div className="space-y-2">
        <LoadingBlock label="Loading the newest version…" rows={1} rowClass="h-72" />
      </div>
    );
  if (!b)
    return (
      <EmptyState icon={<FileCode className="size-10" />} title="No saved version">
        This app has no compose file in AppOS yet.
      </EmptyState>
    );

  return (
    <div className="space-y-3" data-testid="compose-tab">
      <div className="flex flex-wrap items-center gap-2 text-xs text-zinc-500">
        <span>
          Editing from <b className="text-zinc-700 dark:text-zinc-300">version {draft?.base ?? b.version.version}</b>
          {b.version.created_at > 0 && <> · newest saved {fmtAgo(b.version.created_at * 1000)}</>}
        </span>
        {dirty && <span className="rounded bg-amber-100 px-1.5 py-0.5 font-medium text-amber-800 dark:bg-amber-500/15 dark:text-amber-300" data-testid="compose-dirty">unsaved changes</span>}
        {b.env_keys.length > 0 && (
          <span title={b.env_keys.join(", ")}>
            · .env keeps {b.env_keys.length} variable{b.env_keys.length > 1 ? "s" : ""} ({b.env_keys.slice(0, 4).join(", ")}
            {b.env_keys.length > 4 ? ", …" : ""})
          </span>
        )}
        <div className="flex-1" />
        <Button size="sm" variant="ghost" disabled={!dirty} data-testid="compose-reset" onClick={() => setDraft({ text: baseText, base: b.version.version })}>
          <RotateCcw className="size-4" /> Discard changes
        </Button>
      </div>
      {stale && (
        <div className="rounded-lg border border-amber-300 bg-amber-50 px-3 py-2 text-[13px] text-amber-900 dark:border-amber-700/60 dark:bg-amber-950/30 dark:text-amber-200" data-testid="compose-stale">
          Version {b.version.version} was saved since you started editing version {draft?.base}. Saving makes your text the newest version.
        </div>
      )}
      <div className="h-[26rem] overflow-hidden rounded-xl border border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-950">
        <CodeEditor testId="compose-editor" ariaLabel="Compose file" value={text} onChange={(v) => setDraft((d) => ({ text: v, base: d?.base ?? b.version.version }))} diagnostics={diagnostics}
          onSave={() => {
            if (dirty && syntax.length === 0 && !saving) void save();
          }}
        />
      </div>

      {syntax.length > 0 ? (
        <div role="alert" data-testid="compose-syntax-errors" className="rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-[13px] dark:border-red-900 dark:bg-red-950/40">
          <p className="flex items-center gap-1.5 font-medium text-red-800 dark:text-red-300">
            <CircleX className="size-4" /> YAML syntax error{syntax.length > 1 ? "s" : ""}
          </p>
          <ul className="mt-1 space-y-0.5 text-red-700 dark:text-red-400">
            {syntax.map((e, i) => (
              <li key={i}>
                <span className="font-mono text-xs">
                  line {e.line}, column {e.col}
                </span>
                : {e.message}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <CheckPanel check={check} />
      )}

      {saveError && <ErrorAlert error={saveError} title="Could not save" testId="compose-save-error" />}
      {saved && !dirty && (
        <p className="flex items-center gap-1.5 text-[13px] text-emerald-700 dark:text-emerald-400" data-testid="compose-saved">
          <CircleCheck className="size-4" /> Saved version {saved.version}
          {saved.deployed ? ", deployment started" : ""}.
        </p>
      )}
      <div className="flex flex-wrap items-center gap-3 rounded-xl border border-zinc-200 bg-zinc-50/60 px-3 py-2.5 dark:border-zinc-800 dark:bg-zinc-900/40">
        <Input
          data-testid="compose-message"
          aria-label="What changed (for the history)"
          className="h-8 max-w-md flex-1 text-[13px]"
          placeholder="What changed? (for the history)"
          value={message}
          onChange={(e) => setMessage(e.target.value)}
        />
        <Checkbox data-testid="compose-deploy" checked={deploy} onChange={(e) => setDeploy(e.target.checked)} label="Deploy after saving" />
        <div className="flex-1" />
        <Button
          variant="primary"
          size="sm"
          data-testid="compose-save"
          busy={saving && !consent.asking}
          disabled={saving || !dirty || syntax.length > 0}
          title={syntax.length ? "Fix the YAML syntax first" : !dirty ? "Nothing changed" : "Save (Ctrl+S)"}
          onClick={() => void save()}
        >
          <Save className="size-4" /> {deploy ? "Save and deploy" : "Save"}
        </Button>
      </div>
      {consent.dialog}
    </div>
  );
}

function CheckPanel({ check }: { check: Check }) {
  if (check.status === "idle") return null;
  if (check.status === "checking")
    return (
      <p className="flex items-center gap-1.5 text-[13px] text-zinc-500" data-testid="compose-checking">
        <LoaderCircle className="size-4 animate-spin" /> Checking with the server…
      </p>
    );
  if (check.status === "valid") {
    const services = Object.entries(check.result.services);
    const needs = newHostAccess(check.result);
    return (
      <div className="space-y-2">
        <div data-testid="compose-valid" className="flex flex-wrap items-center gap-x-3 gap-y-1 text-[13px] text-emerald-700 dark:text-emerald-400">
          <span className="flex items-center gap-1.5 font-medium">
            <CircleCheck className="size-4" /> Valid: {services.length} service{services.length === 1 ? "" : "s"}
          </span>
          {services.map(([s, img]) => (
            <span key={s} className="font-mono text-xs text-zinc-600 dark:text-zinc-400">
              {s} <span className="text-zinc-400">→</span> {img}
            </span>
          ))}
        </div>
        {needs.length > 0 && (
          <div data-testid="compose-host-access" className="rounded-lg border border-amber-300 bg-amber-50 px-3 py-2 dark:border-amber-700/60 dark:bg-amber-950/30">
            <p className="mb-1.5 text-[13px] font-medium text-amber-900 dark:text-amber-200">New access to the server: saving asks you to allow it</p>
            <HostAccessList items={needs} compact />
          </div>
        )}
      </div>
    );
  }
  const { fields, error, source } = check;
  return (
    <div role="alert" data-testid="compose-errors" data-source={source} className="rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-[13px] dark:border-red-900 dark:bg-red-950/40">
      <p className="flex items-center gap-1.5 font-medium text-red-800 dark:text-red-300">
        <CircleX className="size-4" />{" "}
        {error.code !== "invalid_input" ? (source === "save" ? "Could not save" : "Could not check the file") : source === "save" ? "The server refused to save this file" : "The server would refuse this file"}
      </p>
      {fields.length > 0 ? (
        <ul className="mt-1 space-y-0.5 text-red-700 dark:text-red-400">
          {fields.map((f, i) => (
            <li key={i} data-field={f.field}>
              <code className={cx("font-mono text-xs")}>{f.field}</code>: {f.message}
            </li>
          ))}
        </ul>
      ) : (
        <p className="mt-0.5 text-red-700 dark:text-red-400">{error.message}</p>
      )}
    </div>
  );
}
