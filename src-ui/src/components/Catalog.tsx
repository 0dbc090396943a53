// The server's app catalog: search, categories, cards; a template page with
// an install form generated from the template's parameters.
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { ExternalLink, Eye, EyeOff, LayoutGrid, RefreshCw, Rocket, Search, ShieldAlert, Sparkles } from "lucide-react";
import { toUiError } from "../api/backend";
import type { UiError } from "../api/desktop.gen";
import type { CatalogEntry, CatalogParam } from "../api/types.gen";
import { useDebouncedValue } from "../lib/hooks";
import { NAME_RE } from "../lib/format";
import { useServer } from "../lib/server";
import { useSessionState } from "../lib/session";
import { described, HostAccessList, useHostAccessConsent, type HostAccessItem } from "./HostAccess";
import { Badge, Button, cx, EmptyState, ErrorAlert, FieldMessage, Input, LoadingBlock, Skeleton } from "./ui";

/** The catalog of the current server, loaded once per session (and on demand). */
function useCatalog() {
  const { backend, server } = useServer();
  const [entries, setEntries] = useSessionState<CatalogEntry[] | null>(`catalog:${server}`, null);
  const [error, setError] = useState<UiError | null>(null);
  const [loading, setLoading] = useState(false);
  const load = useCallback(async () => {
    setLoading(true);
    try {
      setEntries(await backend.call(server, { call: "list_catalog", args: { search: null } }));
      setError(null);
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setLoading(false);
    }
  }, [backend, server, setEntries]);
  useEffect(() => {
    if (entries === null) void load();
    // Only on mount: a cached catalog is not fetched again until asked.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return { entries, error, loading, load };
}

function matches(e: CatalogEntry, q: string) {
  if (!q) return true;
  const hay = `${e.id}\n${e.name}\n${e.description}\n${e.category}`.toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

export function CatalogBrowser() {
  const { nav, server } = useServer();
  const { entries, error, loading, load } = useCatalog();
  const [q, setQ] = useSessionState(`catalog-q:${server}`, "");
  const [cat, setCat] = useSessionState<string | null>(`catalog-cat:${server}`, null);
  const categories = useMemo(() => [...new Set((entries ?? []).map((e) => e.category).filter(Boolean))].sort(), [entries]);
  const shown = (entries ?? []).filter((e) => (!cat || e.category === cat) && matches(e, q.trim()));

  return (
    <div>
      <div className="mb-3 flex flex-wrap items-center gap-3">
        <h2 className="text-lg font-semibold tracking-tight">Catalog</h2>
        {entries && <span className="text-xs text-zinc-500">{entries.length} templates on this server</span>}
        <div className="flex-1" />
        <div className="relative w-72">
          <Search className="pointer-events-none absolute top-2.5 left-2.5 size-4 text-zinc-400" />
          <Input
            data-testid="catalog-search"
            aria-label="Search the catalog"
            type="search"
            className="pl-8"
            placeholder="Search apps, e.g. blog, database…"
            value={q}
            onChange={(e) => setQ(e.target.value)}
          />
        </div>
        <Button size="sm" variant="ghost" aria-label="Reload the catalog" data-testid="catalog-reload" onClick={() => void load()}>
          <RefreshCw className={cx("size-4", loading && "animate-spin")} />
        </Button>
      </div>
      {categories.length > 0 && (
        <div className="mb-4 flex flex-wrap gap-1.5" role="group" aria-label="Categories">
          {[null, ...categories].map((c) => (
            <button
              key={c ?? "*"}
              type="button"
              aria-pressed={cat === c}
              data-testid={`catalog-category-${c ?? "all"}`}
              onClick={() => setCat(c)}
              className={cx(
                "rounded-full px-3 py-1 text-xs font-medium ring-1 transition-colors ring-inset",
                cat === c
                  ? "bg-indigo-600 text-white ring-indigo-600"
                  : "bg-white text-zinc-700 ring-zinc-200 hover:bg-zinc-50 dark:bg-zinc-900 dark:text-zinc-300 dark:ring-zinc-700 dark:hover:bg-zinc-800",
              )}
            >
              {c ?? "All"}
            </button>
          ))}
        </div>
      )}
      {error && <ErrorAlert className="mb-3" error={error} title="Could not load the catalog" testId="catalog-error" onRetry={() => void load()} />}
      {entries === null ? (
        !error && (
          <div className="grid grid-cols-[repeat(auto-fill,minmax(15rem,1fr))] gap-3" aria-busy="true">
            <p className="col-span-full text-xs text-zinc-500" role="status">
              Loading the catalog…
            </p>
            {[0, 1, 2, 3, 4, 5].map((i) => (
              <Skeleton key={i} className="h-28 rounded-xl" />
            ))}
          </div>
        )
      ) : shown.length === 0 ? (
        <EmptyState icon={<LayoutGrid className="size-10" />} title={entries.length ? "No template matches" : "The catalog is empty"}>
          {entries.length ? "Try another word or category." : "This server's agent ships no templates."}
        </EmptyState>
      ) : (
        <div className="grid grid-cols-[repeat(auto-fill,minmax(15rem,1fr))] gap-3" data-testid="catalog-grid">
          {shown.map((e) => (
            <button
              key={e.id}
              type="button"
              data-testid={`catalog-item-${e.id}`}
              onClick={() => nav.go({ view: "template", id: e.id })}
              className="group flex flex-col rounded-xl border border-zinc-200 bg-white p-4 text-left transition hover:border-indigo-300 hover:shadow-sm focus-visible:outline-2 focus-visible:outline-indigo-500 dark:border-zinc-800 dark:bg-zinc-900/40 dark:hover:border-indigo-500/50"
            >
              <div className="flex items-center gap-3">
                <Logo entry={e} />
                <div className="min-w-0">
                  <div className="truncate font-medium">{e.name}</div>
                  <div className="text-xs text-zinc-500">{e.category}</div>
                </div>
              </div>
              <p className="mt-2 line-clamp-2 text-[13px] text-zinc-600 dark:text-zinc-400">{e.description}</p>
              {e.host_access.length > 0 && (
                <Badge
                  tone={e.host_access_grew ? "red" : "amber"}
                  className="mt-2 self-start"
                  data-testid={`catalog-access-${e.id}`}
                  title={described(e.host_access).map((a) => a.description).join("\n")}
                >
                  <ShieldAlert className="size-3" /> {e.host_access_grew ? "Needs more server access than before" : "Needs server access"}
                </Badge>
              )}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

function Logo({ entry, large }: { entry: CatalogEntry; large?: boolean }) {
  const [broken, setBroken] = useState(false);
  const size = large ? "size-14 text-xl" : "size-10 text-base";
  if (entry.logo && !broken)
    return <img src={entry.logo} alt="" className={cx(size, "shrink-0 rounded-lg object-contain")} onError={() => setBroken(true)} data-testid={`logo-${entry.id}`} />;
  return (
    <div
      aria-hidden
      data-testid={`logo-${entry.id}`}
      className={cx(size, "flex shrink-0 items-center justify-center rounded-lg bg-indigo-100 font-semibold text-indigo-700 uppercase dark:bg-indigo-500/15 dark:text-indigo-300")}
    >
      {(entry.name || entry.id).charAt(0)}
    </div>
  );
}

export function TemplatePage({ id }: { id: string }) {
  const { backend } = useServer();
  const { entries, error, load } = useCatalog();
  const entry = entries?.find((e) => e.id === id);
  if (error && !entries) return <ErrorAlert error={error} title="Could not load the catalog" onRetry={() => void load()} />;
  if (!entries) return <LoadingBlock label="Loading the template…" />;
  if (!entry)
    return (
      <EmptyState icon={<LayoutGrid className="size-10" />} title={`No template "${id}"`}>
        This server's catalog has no such template any more.
      </EmptyState>
    );
  return (
    <div className="mx-auto max-w-3xl space-y-5" data-testid="catalog-template">
      <div className="flex items-start gap-4">
        <Logo entry={entry} large />
        <div className="min-w-0 flex-1">
          <h2 className="text-xl font-semibold tracking-tight" data-testid="template-name">
            {entry.name}
          </h2>
          <div className="mt-1 flex flex-wrap items-center gap-2 text-xs text-zinc-500">
            <Badge>{entry.category}</Badge>
            <span className="font-mono">{entry.id}</span>
            {entry.website && (
              <a
                href={entry.website}
                target="_blank"
                rel="noreferrer noopener"
                onClick={(e) => {
                  // The system browser, not the app's own webview.
                  e.preventDefault();
                  void backend.openUrl(entry.website).catch(() => undefined);
                }}
                data-testid="template-website"
                className="inline-flex items-center gap-1 text-indigo-600 hover:underline dark:text-indigo-400"
              >
                {entry.website.replace(/^https?:\/\//, "").replace(/\/$/, "")} <ExternalLink className="size-3" />
              </a>
            )}
          </div>
          <p className="mt-3 text-sm text-zinc-700 dark:text-zinc-300" data-testid="template-description">
            {entry.description}
          </p>
        </div>
      </div>
      <InstallForm entry={entry} />
    </div>
  );
}

const DOMAIN_RE = /^(?=.{1,253}$)[a-z0-9*]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

interface InstallDraft {
  name: string;
  values: Record<string, string>;
}

function initialDraft(entry: CatalogEntry): InstallDraft {
  const values: Record<string, string> = {};
  for (const p of entry.params) values[p.key] = p.default ?? (p.type === "bool" ? "false" : "");
  return { name: entry.id, values };
}

/** Client-side checks; the agent checks again and its answer wins. */
export function validateInstall(entry: CatalogEntry, d: InstallDraft): Record<string, string> {
  const errs: Record<string, string> = {};
  if (!NAME_RE.test(d.name))
    errs.name = d.name ? "Use 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit." : "The app needs a name.";
  for (const p of entry.params) {
    const v = (d.values[p.key] ?? "").trim();
    const f = `params.${p.key}`;
    if (p.type === "bool") continue;
    if (!v) {
      if (p.required && !p.generate) errs[f] = "Required.";
      continue;
    }
    if ((p.type === "int" || p.type === "port") && !/^-?\d+$/.test(v)) errs[f] = "Must be a whole number.";
    else if (p.type === "port" && (Number(v) < 1 || Number(v) > 65535)) errs[f] = "A port is a number from 1 to 65535.";
    else if (p.type === "domain" && !DOMAIN_RE.test(v)) errs[f] = "Not a valid domain name.";
  }
  return errs;
}

/** The parameters as sent: trimmed (passwords as typed), empty ones left for the template's defaults. */
function installParams(entry: CatalogEntry, d: InstallDraft): Record<string, string> {
  const params: Record<string, string> = {};
  for (const p of entry.params) {
    const raw = d.values[p.key] ?? "";
    const v = p.type === "password" ? raw : raw.trim();
    if (p.type === "bool") params[p.key] = v === "true" ? "true" : "false";
    else if (v) params[p.key] = v;
  }
  return params;
}

/** The agent checks the template with the form's values this long after the last change. */
const PREVIEW_DEBOUNCE_MS = 500;

/**
 * The host access the template needs with the form's current values, from
 * the agent's check; what the template declares until the check answers
 * (an incomplete form does not check).
 */
function useTemplateAccess(entry: CatalogEntry, draft: InstallDraft): HostAccessItem[] {
  const { backend, server } = useServer();
  const key = useDebouncedValue(JSON.stringify({ name: draft.name, params: installParams(entry, draft) }), PREVIEW_DEBOUNCE_MS);
  const [needs, setNeeds] = useState<HostAccessItem[] | null>(null);
  useEffect(() => {
    const { name, params } = JSON.parse(key) as { name: string; params: Record<string, string> };
    if (!NAME_RE.test(name)) return;
    let live = true;
    backend.call(server, { call: "check_compose", args: { name, compose: "", catalog: { id: entry.id, params }, files: [], env: {} } }).then(
      (c) => live && setNeeds(c.host_access),
      // An incomplete form does not check (the last answer stays); the install says why.
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [backend, server, entry.id, key]);
  return needs ?? described(entry.host_access);
}

function InstallForm({ entry }: { entry: CatalogEntry }) {
  const { backend, server, nav } = useServer();
  const [draft, setDraft] = useSessionState<InstallDraft>(`install:${server}:${entry.id}`, () => initialDraft(entry));
  const consent = useHostAccessConsent();
  const access = useTemplateAccess(entry, draft);
  const [fieldErrs, setFieldErrs] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const setValue = (key: string, v: string) => {
    setDraft((d) => ({ ...d, values: { ...d.values, [key]: v } }));
    setFieldErrs(({ [`params.${key}`]: _, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errs = validateInstall(entry, draft);
    setFieldErrs(errs);
    setFormError(null);
    if (Object.keys(errs).length) return;
    const catalog = { id: entry.id, params: installParams(entry, draft) };
    setBusy(true);
    try {
      const allow = await consent.ask({ name: draft.name, compose: "", catalog, files: [], env: {} }, "deploy");
      if (allow === null) return;
      const r = await backend.call(server, { call: "deploy_app", args: { name: draft.name, compose: "", catalog, files: [], env: {}, message: null, allow_host_access: allow } });
      setDraft(initialDraft(entry));
      const secrets = Object.keys(r.generated).length ? r.generated : undefined;
      nav.go({ view: "deployment", id: r.deployment_id, secrets });
    } catch (err) {
      const u = toUiError(err);
      const known = new Set(["name", ...entry.params.map((p) => `params.${p.key}`)]);
      const mine: Record<string, string> = {};
      const rest = u.fields.filter((f) => {
        if (!known.has(f.field)) return true;
        mine[f.field] = mine[f.field] ? `${mine[f.field]} ${f.message}` : f.message;
        return false;
      });
      setFieldErrs(mine);
      setFormError({ ...u, fields: rest });
    } finally {
      setBusy(false);
    }
  }

  const nameErr = fieldErrs.name;
  return (
    <>
      <form onSubmit={submit} noValidate className="rounded-xl border border-zinc-200 dark:border-zinc-800" data-testid="install-form">
        <div className="border-b border-zinc-200 px-5 py-3 dark:border-zinc-800">
          <h3 className="font-semibold">Install {entry.name}</h3>
          <p className="text-xs text-zinc-500">AppOS writes a compose project on the server and deploys it. You can edit its compose file afterwards.</p>
        </div>
        <div className="grid gap-4 px-5 py-4 sm:grid-cols-2">
          <div className="space-y-1.5 sm:col-span-2">
            <label htmlFor="install-name" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
              App name <span className="text-red-500">*</span>
            </label>
            <Input
              id="install-name"
              data-testid="install-name"
              value={draft.name}
              aria-invalid={!!nameErr}
              className={cx("max-w-sm font-mono", nameErr && "border-red-400 dark:border-red-700")}
              onChange={(e) => {
                const name = e.target.value;
                setDraft((d) => ({ ...d, name }));
                setFieldErrs(({ name: _, ...rest }) => (NAME_RE.test(name) ? rest : { ...rest, name: "Use 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit." }));
              }}
            />
            {nameErr ? <FieldMessage message={nameErr} testId="field-error-name" /> : <p className="text-xs text-zinc-500">Also the compose project name. Lowercase letters, digits, - and _.</p>}
          </div>
          {entry.params.map((p) => (
            <ParamInput key={p.key} param={p} value={draft.values[p.key] ?? ""} error={fieldErrs[`params.${p.key}`]} onChange={(v) => setValue(p.key, v)} />
          ))}
        </div>
        {access.length > 0 && (
          <div className="px-5 pb-3">
            <div className="rounded-lg border border-amber-300 bg-amber-50 px-3 py-2.5 dark:border-amber-700/60 dark:bg-amber-950/30" data-testid="install-host-access">
              <p className="mb-2 text-[13px] font-medium text-amber-900 dark:text-amber-200">This app needs access to the server</p>
              {entry.host_access_grew && (
                <p className="mb-2 text-xs font-medium text-red-700 dark:text-red-400" data-testid="install-host-access-grew">
                  The template asks for more than it did before the catalog's last refresh.
                </p>
              )}
              <HostAccessList items={access} />
              <p className="mt-2 text-xs text-amber-900/80 dark:text-amber-200/80">You are asked to allow it when you install.</p>
            </div>
          </div>
        )}
        {formError && (
          <div className="px-5 pb-3">
            <ErrorAlert error={formError} testId="install-error" title={formError.code === "invalid_input" ? "The server refused this install" : undefined} />
          </div>
        )}
        <div className="flex items-center justify-end gap-3 rounded-b-xl border-t border-zinc-100 bg-zinc-50/60 px-5 py-3 dark:border-zinc-800 dark:bg-zinc-900/60">
          {Object.keys(fieldErrs).length > 0 && !formError && <span className="text-xs text-red-600 dark:text-red-400">Check the highlighted fields.</span>}
          <Button type="submit" variant="primary" busy={busy && !consent.asking} disabled={busy} data-testid="install-submit">
            <Rocket className="size-4" /> {busy && !consent.asking ? "Starting the deployment…" : "Install"}
          </Button>
        </div>
      </form>
      {consent.dialog}
    </>
  );
}

function ParamInput({ param: p, value, error, onChange }: { param: CatalogParam; value: string; error?: string; onChange: (v: string) => void }) {
  const [reveal, setReveal] = useState(false);
  const id = `param-${p.key}`;
  const invalid = cx(error && "border-red-400 dark:border-red-700");
  const label = (
    <span className="flex items-center gap-1.5">
      {p.label || p.key}
      {p.required && !p.generate && <span className="text-red-500">*</span>}
      <code className="font-mono text-[11px] font-normal text-zinc-400">{p.key}</code>
    </span>
  );
  const hint = (
    <>
      {p.description && <p className="text-xs text-zinc-500 dark:text-zinc-400">{p.description}</p>}
      {p.generate != null && (
        <p className="flex items-center gap-1 text-xs text-indigo-600 dark:text-indigo-400">
          <Sparkles className="size-3" /> A random {p.generate}-character value is generated when empty.
        </p>
      )}
      <FieldMessage message={error} testId={`field-error-params.${p.key}`} />
    </>
  );
  if (p.type === "bool")
    return (
      <div className="space-y-1 sm:pt-6">
        <label className="inline-flex cursor-pointer items-center gap-2 text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
          <input id={id} data-testid={id} type="checkbox" className="size-4 accent-indigo-600" checked={value === "true"} onChange={(e) => onChange(e.target.checked ? "true" : "false")} />
          {label}
        </label>
        {hint}
      </div>
    );
  const placeholder = p.generate != null ? "leave empty to generate" : p.type === "domain" ? "app.example.com" : p.default ?? "";
  return (
    <div className="space-y-1.5">
      <label htmlFor={id} className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
        {label}
      </label>
      {p.type === "password" ? (
        <div className="flex gap-1.5">
          <Input
            id={id}
            data-testid={id}
            type={reveal ? "text" : "password"}
            autoComplete="new-password"
            spellCheck={false}
            aria-invalid={!!error}
            className={cx("font-mono", invalid)}
            placeholder={placeholder}
            value={value}
            onChange={(e) => onChange(e.target.value)}
          />
          <Button type="button" size="md" variant="secondary" className="px-2.5" data-testid={`${id}-reveal`} aria-label={reveal ? "Hide" : "Show"} aria-pressed={reveal} onClick={() => setReveal(!reveal)}>
            {reveal ? <EyeOff className="size-4" /> : <Eye className="size-4" />}
          </Button>
        </div>
      ) : (
        <Input
          id={id}
          data-testid={id}
          type={p.type === "int" || p.type === "port" ? "number" : "text"}
          inputMode={p.type === "int" || p.type === "port" ? "numeric" : undefined}
          min={p.type === "port" ? 1 : undefined}
          max={p.type === "port" ? 65535 : undefined}
          step={p.type === "int" || p.type === "port" ? 1 : undefined}
          spellCheck={false}
          aria-invalid={!!error}
          className={cx(p.type !== "string" && "font-mono", invalid)}
          placeholder={placeholder}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
      {hint}
    </div>
  );
}
