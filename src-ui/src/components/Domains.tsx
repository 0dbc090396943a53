// Domains served by the agent's reverse proxy: the server's Domains tab, an
// app's Domains tab, the certificate badge and the add form they share.
import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { ExternalLink, Globe, Plus, RefreshCw, ServerCog, ShieldAlert, Trash2 } from "lucide-react";
import { toUiError } from "../api/backend";
import type { UiError } from "../api/desktop.gen";
import type { App, CertStatus, Domain, ProxyInfo } from "../api/types.gen";
import { certAlerts, domainTarget, domainUrl, proxyListens, servicePorts, useDomains, useDomainsPolling } from "../lib/domains";
import { fmtTime } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { useServer } from "../lib/server";
import { Badge, Button, Checkbox, cx, Dialog, EmptyState, ErrorAlert, FieldMessage, Input, LoadingBlock, Select, type Tone } from "./ui";

const days = (n: number) => (n === 1 ? "1 day" : `${n} days`);

/** The reverse proxy's name as written in prose ("Caddy", "nginx"), or null when the agent's info does not say. */
export function proxyName(p: Pick<ProxyInfo, "backend"> | null | undefined): string | null {
  const b = p?.backend.trim().toLowerCase();
  if (!b) return null;
  return b === "caddy" ? "Caddy" : b;
}

/** "a reverse proxy (nginx)", or just "a reverse proxy" when its backend is not known. */
function reverseProxy(p: Pick<ProxyInfo, "backend"> | null | undefined): string {
  const name = proxyName(p);
  return name ? `reverse proxy (${name})` : "reverse proxy";
}

/** What the agent's preflight says in a failed status's reason before why. */
const PREFLIGHT = "preflight:";

/** Why the preflight refused to order a certificate (the reason without its "preflight:" prefix), or null when it did not. */
export function preflightFailure(c: CertStatus): string | null {
  if (c.state !== "failed" || !c.reason.startsWith(PREFLIGHT)) return null;
  return c.reason.slice(PREFLIGHT.length).trim();
}

export interface CertView {
  tone: Tone;
  /** The badge's words. */
  text: string;
  /** Shown beside the badge: the issuer, or why not. */
  detail: string | null;
  /** The badge's tooltip. */
  title: string;
}

/** How a certificate status is shown. */
export function certView(c: CertStatus): CertView {
  switch (c.state) {
    case "none":
      return { tone: "zinc", text: "HTTP only", detail: null, title: "Served over plain HTTP, without a certificate." };
    case "pending":
      return { tone: "amber", text: "pending", detail: c.reason || null, title: `The certificate is not served yet${c.reason ? `: ${c.reason}` : "."}` };
    case "valid":
      return {
        tone: "green",
        text: `valid · ${days(c.days_left)} left`,
        detail: c.issuer,
        title: `Issued by ${c.issuer}, valid until ${fmtTime(c.not_after * 1000)}. AppOS renews it on its own.`,
      };
    case "expiring":
      return {
        tone: c.days_left <= 7 ? "red" : "amber",
        text: c.days_left <= 0 ? "expires today" : `expires in ${days(c.days_left)}`,
        detail: c.issuer,
        title: `Issued by ${c.issuer}, valid until ${fmtTime(c.not_after * 1000)}. AppOS renews certificates well before this: check that the domain still points at this server and that ports 80 and 443 reach it.`,
      };
    case "failed":
      return { tone: "red", text: "failed", detail: c.reason || null, title: `No valid certificate is served${c.reason ? `: ${c.reason}` : "."}` };
  }
}

/** A domain's certificate: a badge, with the issuer or the reason beside it. */
export function CertBadge({ cert, testId }: { cert: CertStatus; testId?: string }) {
  const v = certView(cert);
  return (
    <div className="flex min-w-0 flex-wrap items-center gap-x-2 gap-y-0.5" data-state={cert.state}>
      <Badge tone={v.tone} title={v.title} data-testid={testId}>
        {v.text}
      </Badge>
      {v.detail && (
        <span
          className={cx("max-w-72 truncate text-xs", cert.state === "failed" ? "text-red-600 dark:text-red-400" : cert.state === "pending" ? "text-amber-700 dark:text-amber-400" : "text-zinc-500")}
          title={v.detail}
          data-testid={testId && `${testId}-detail`}
        >
          {v.detail}
        </span>
      )}
    </div>
  );
}

/** The server's Domains tab. `apps`: the server's apps as known, for the add form until it lists them. */
export function DomainsView({ apps }: { apps: App[] | null }) {
  return <DomainsPanel apps={apps} />;
}

/** An app's Domains tab: its domains, and adding one with the app picked. */
export function AppDomains({ app }: { app: App }) {
  return <DomainsPanel app={app} apps={null} />;
}

function DomainsPanel({ app, apps }: { app?: App; apps: App[] | null }) {
  const { backend, server } = useServer();
  const store = useDomainsPolling();
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Domain | null>(null);
  const [ordering, setOrdering] = useState<Domain | null>(null);
  const [reloading, setReloading] = useState(false);
  const [reloadError, setReloadError] = useState<UiError | null>(null);

  async function reloadProxy() {
    setReloading(true);
    setReloadError(null);
    try {
      store.set(await backend.call(server, { call: "reload_proxy", args: {} }));
      store.proxyAnswered();
    } catch (e) {
      const u = toUiError(e);
      if (!store.refused(u)) setReloadError(u);
    } finally {
      setReloading(false);
    }
  }

  const rows = store.list === null ? null : app ? store.list.filter((d) => d.app === app.name) : store.list;

  if (store.noProxy)
    return (
      <div data-testid="domains" data-app={app?.name}>
        <NoProxy error={store.noProxy} proxy={store.proxy} recorded={rows?.length ?? 0} checking={reloading} onCheck={() => void reloadProxy()} />
        {reloadError && <ErrorAlert className="mt-3" error={reloadError} title="Could not reach the proxy" testId="domains-reload-error" />}
      </div>
    );

  const attention = certAlerts(rows).total;
  return (
    <div data-testid="domains" data-app={app?.name}>
      <div className="mb-1 flex flex-wrap items-center gap-3">
        <h2 className={cx("font-semibold tracking-tight", app ? "text-[15px]" : "text-lg")}>{app ? "Domains of this app" : "Domains"}</h2>
        {rows && (
          <span className="text-xs text-zinc-500" data-testid="domains-summary">
            {rows.length === 1 ? "1 domain" : `${rows.length} domains`}
            {attention > 0 && <span className="text-red-600 dark:text-red-400"> · {attention === 1 ? "1 certificate needs" : `${attention} certificates need`} attention</span>} · checked every 10 s
          </span>
        )}
        <div className="flex-1" />
        {!app && (
          <Button
            size="sm"
            variant="secondary"
            data-testid="domains-reload-proxy"
            busy={reloading}
            title="Apply the proxy's configuration again, from the domains and the containers' current addresses"
            onClick={() => void reloadProxy()}
          >
            {!reloading && <RefreshCw className="size-4" />} Reload proxy
          </Button>
        )}
        <Button size="sm" variant="primary" data-testid="domains-add" onClick={() => setAdding(true)}>
          <Plus className="size-4" /> Add domain
        </Button>
      </div>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400" data-testid="domains-intro">
        {app ? (
          <>The names {app.name} is served at, through the server's {reverseProxy(store.proxy)}.</>
        ) : (
          <>The server's {reverseProxy(store.proxy)} serves each domain from an app's container, with an HTTPS certificate AppOS orders and renews on its own.</>
        )}
      </p>
      {!app && store.proxy && (
        <p className="-mt-2 mb-3 text-xs text-zinc-500" data-testid="domains-proxy">
          Proxy: <span className="font-mono">{proxyListens(store.proxy)}</span>
        </p>
      )}
      {reloadError && <ErrorAlert className="mb-3" error={reloadError} title="Could not reload the proxy" testId="domains-reload-error" />}
      {store.error && (
        <ErrorAlert className="mb-3" error={store.error} title={rows ? "Could not refresh the domains" : "Could not list the domains"} testId="domains-error" onRetry={() => void store.reload()} />
      )}
      {rows === null ? (
        !store.error && <LoadingBlock label="Loading domains…" rows={2} />
      ) : rows.length === 0 ? (
        <EmptyState icon={<Globe className="size-10" />} title={app ? "No domain points at this app" : "No domains yet"}>
          Add a domain to serve {app ? "this app" : "an app"} at a name of your own, such as blog.example.com. Point the name's DNS records (A or AAAA) at this server first, so
          a certificate can be issued.
          {!app && (
            <span className="mt-2 block text-xs">
              The agent runs the proxy when <code className="font-mono">APPOS_PROXY_HTTP</code> and <code className="font-mono">APPOS_PROXY_HTTPS</code> are set on the server.
            </span>
          )}
        </EmptyState>
      ) : (
        <DomainsTable rows={rows} showApp={!app} onRemove={setRemoving} onOrderAnyway={setOrdering} />
      )}
      {adding && <AddDomainDialog apps={apps ?? (app ? [app] : null)} app={app?.name} onClose={() => setAdding(false)} />}
      {removing && <RemoveDomainDialog domain={removing} onClose={() => setRemoving(null)} />}
      {ordering && <OrderAnywayDialog domain={ordering} onClose={() => setOrdering(null)} />}
    </div>
  );
}

/** The whole tab when the agent runs no reverse proxy: what that means and how to turn it on. */
function NoProxy({ error, proxy, recorded, checking, onCheck }: { error: UiError; proxy: ProxyInfo | null; recorded: number; checking: boolean; onCheck: () => void }) {
  return (
    <div className="flex flex-col items-center rounded-xl border border-dashed border-zinc-300 px-6 py-12 text-center dark:border-zinc-700" data-testid="domains-no-proxy" title={error.message}>
      <ServerCog className="mb-3 size-10 text-zinc-400 dark:text-zinc-500" />
      <h3 className="text-sm font-semibold">No reverse proxy runs on this server</h3>
      <div className="mt-2 max-w-lg space-y-3 text-sm text-zinc-600 dark:text-zinc-400">
        <p data-testid="domains-no-proxy-about">
          AppOS serves domains through a {reverseProxy(proxy)} that the agent runs, with HTTPS certificates AppOS orders and renews on its own. This server's agent was started
          without one, so it serves no domains.
        </p>
        <p>
          To turn it on, install Caddy (or nginx, and set <code className="font-mono">APPOS_PROXY=nginx</code>) on the server, give the agent the addresses the proxy listens on, and
          restart the agent:
        </p>
        <pre className="mx-auto w-fit rounded-md bg-zinc-100 px-3 py-2 text-left font-mono text-xs text-zinc-800 dark:bg-zinc-800 dark:text-zinc-200" data-testid="domains-no-proxy-env">
          {"APPOS_PROXY_HTTP=:80\nAPPOS_PROXY_HTTPS=:443"}
        </pre>
        <p className="text-xs">
          Certificates come from Let's Encrypt; <code className="font-mono">APPOS_ACME_EMAIL</code> sets the contact address and <code className="font-mono">APPOS_ACME_CA</code> another
          certificate authority.
        </p>
        {recorded > 0 && (
          <p className="text-xs" data-testid="domains-no-proxy-recorded">
            {recorded === 1 ? "1 domain is" : `${recorded} domains are`} recorded on the agent, and served again once the proxy runs.
          </p>
        )}
      </div>
      <Button size="sm" variant="secondary" className="mt-4" busy={checking} data-testid="domains-no-proxy-check" onClick={onCheck}>
        Check again
      </Button>
    </div>
  );
}

function DomainsTable({ rows, showApp, onRemove, onOrderAnyway }: { rows: Domain[]; showApp: boolean; onRemove: (d: Domain) => void; onOrderAnyway: (d: Domain) => void }) {
  const { backend, nav } = useServer();
  const open = (url: string) => void backend.openUrl(url).catch(() => undefined);
  return (
    <div className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <table className="w-full text-sm" data-testid="domains-table">
        <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
          <tr>
            <th className="px-4 py-2">Domain</th>
            <th className="px-4 py-2">{showApp ? "Target" : "Service"}</th>
            <th className="px-4 py-2">HTTPS</th>
            <th className="px-4 py-2">Certificate</th>
            <th />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
          {rows.map((d) => {
            const url = domainUrl(d);
            return (
              <tr key={d.domain} data-testid={`domain-row-${d.domain}`}>
                <td className="px-4 py-2.5">
                  <a
                    href={url}
                    target="_blank"
                    rel="noreferrer noopener"
                    title={`Open ${url}`}
                    data-testid={`domain-link-${d.domain}`}
                    onClick={(e) => {
                      // The system browser, not the app's own webview.
                      e.preventDefault();
                      open(url);
                    }}
                    className="inline-flex items-center gap-1 font-medium whitespace-nowrap text-indigo-600 hover:underline dark:text-indigo-400"
                  >
                    {showApp ? d.domain : url} <ExternalLink className="size-3 shrink-0" />
                  </a>
                </td>
                <td className="px-4 py-2.5 font-mono text-xs" data-testid={`domain-target-${d.domain}`}>
                  {showApp && (
                    <button
                      type="button"
                      className="font-medium text-indigo-600 hover:underline dark:text-indigo-400"
                      title={`Open ${d.app}`}
                      data-testid={`domain-app-${d.domain}`}
                      onClick={() => nav.go({ view: "app", app: d.app, tab: "overview" })}
                    >
                      {d.app}
                    </button>
                  )}
                  <span className="text-zinc-600 dark:text-zinc-400">
                    {showApp ? "/" : ""}
                    {d.service}:{d.port}
                  </span>
                </td>
                <td className="px-4 py-2.5 text-xs" data-testid={`domain-https-${d.domain}`}>
                  {d.ssl ? (
                    <>
                      <span className="font-medium">yes</span>
                      <span className="text-zinc-500"> · {d.force_https ? "HTTP redirected" : "HTTP served too"}</span>
                    </>
                  ) : (
                    <span className="text-zinc-500">no</span>
                  )}
                </td>
                <td className="px-4 py-2.5">
                  <CertBadge cert={d.certificate} testId={`domain-cert-${d.domain}`} />
                </td>
                <td className="pr-2 text-right whitespace-nowrap">
                  {preflightFailure(d.certificate) !== null && (
                    <Button
                      size="sm"
                      variant="secondary"
                      className="mr-1"
                      title={`Order a certificate for ${d.domain} without checking first that it reaches this server`}
                      data-testid="domain-order-anyway"
                      data-domain={d.domain}
                      onClick={() => onOrderAnyway(d)}
                    >
                      Order anyway
                    </Button>
                  )}
                  <Button
                    size="sm"
                    variant="ghost"
                    className="px-2 text-zinc-500 hover:text-red-600 dark:hover:text-red-400"
                    aria-label={`Remove ${d.domain}`}
                    title={`Remove ${d.domain}`}
                    data-testid={`domain-remove-${d.domain}`}
                    onClick={() => onRemove(d)}
                  >
                    <Trash2 className="size-4" />
                  </Button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/**
 * A dialog's call about one domain: busy while it runs, closes the dialog
 * when it is done; a domain gone meanwhile is dropped from the list, a
 * missing proxy is the list's to show, any other error stays in the dialog.
 */
function useDomainAction(d: Domain, onClose: () => void) {
  const store = useDomains();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
      onClose();
    } catch (e) {
      const u = toUiError(e);
      if (u.code === "not_found") {
        // Gone already: the list says so.
        store.drop(d.domain);
        void store.reload();
        onClose();
      } else if (store.refused(u)) onClose();
      else setError(u);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}

function RemoveDomainDialog({ domain: d, onClose }: { domain: Domain; onClose: () => void }) {
  const { backend, server } = useServer();
  const store = useDomains();
  const { busy, error, run } = useDomainAction(d, onClose);

  const remove = () =>
    run(async () => {
      await backend.call(server, { call: "remove_domain", args: { domain: d.domain } });
      store.drop(d.domain);
    });

  return (
    <Dialog
      open
      onClose={() => !busy && onClose()}
      tone="danger"
      title={`Remove ${d.domain}?`}
      testId="remove-domain-dialog"
      description={
        <>
          The proxy stops serving <b className="text-zinc-800 dark:text-zinc-200">{d.domain}</b>, and its certificate is no longer renewed.{" "}
          <span className="font-mono text-xs">{domainTarget(d.app, d.service, d.port)}</span> keeps running, and is still reached at its published ports.
        </>
      }
      footer={
        <>
          <Button variant="ghost" disabled={busy} onClick={onClose} data-testid="remove-domain-cancel">
            Cancel
          </Button>
          <Button variant="danger" busy={busy} data-testid="remove-domain-confirm" onClick={() => void remove()}>
            Remove domain
          </Button>
        </>
      }
    >
      {error ? <ErrorAlert error={error} title={`Could not remove ${d.domain}`} testId="remove-domain-error" /> : null}
    </Dialog>
  );
}

/**
 * Orders a domain's certificate now (`renew_certificate`). With
 * `skipPreflight`, without checking first that the domain reaches this
 * server; the agent keeps that for the domain.
 */
function useOrderCertificate() {
  const { backend, server } = useServer();
  const store = useDomains();
  return async (domain: string, skipPreflight: boolean): Promise<Domain> => {
    const d = await backend.call(server, { call: "renew_certificate", args: { domain, skip_preflight: skipPreflight } });
    store.put(d);
    store.proxyAnswered();
    return d;
  };
}

/** Asks before ordering a certificate the agent's preflight held back, then orders it without the check. */
function OrderAnywayDialog({ domain: d, onClose }: { domain: Domain; onClose: () => void }) {
  const order = useOrderCertificate();
  const { busy, error, run } = useDomainAction(d, onClose);
  const why = preflightFailure(d.certificate) ?? "";

  const confirm = () =>
    run(async () => {
      await order(d.domain, true);
    });

  return (
    <Dialog
      open
      onClose={() => !busy && onClose()}
      tone="warning"
      title={`Order a certificate for ${d.domain} anyway?`}
      testId="order-anyway-dialog"
      description={
        <>
          <span className="block" data-testid="order-anyway-reason">
            The check that <b className="text-zinc-800 dark:text-zinc-200">{d.domain}</b> reaches this server failed: {/[.!?]$/.test(why) ? why : `${why}.`}
          </span>
          <span className="mt-2 block">
            Ordering anyway may fail at the certificate authority, and a failed order counts against its rate limits. The check is skipped for this domain from now on.
          </span>
        </>
      }
      footer={
        <>
          <Button variant="ghost" disabled={busy} onClick={onClose} data-testid="order-anyway-cancel">
            Cancel
          </Button>
          <Button variant="primary" busy={busy} data-testid="order-anyway-confirm" onClick={() => void confirm()}>
            {!busy && <ShieldAlert className="size-4" />} Order anyway
          </Button>
        </>
      }
    >
      {error ? <ErrorAlert error={error} title={`Could not order a certificate for ${d.domain}`} testId="order-anyway-error" /> : null}
    </Dialog>
  );
}

/** Fields of the add form the agent names in its answers. */
type FormField = "domain" | "target" | "port" | "force_https";
const AGENT_FIELDS: Record<string, FormField> = { domain: "domain", target: "target", force_https: "force_https", ssl: "force_https" };

/** The service a new domain most likely targets: the first one with a known port. */
function preferredService(app: App): string {
  return (app.services.find((s) => servicePorts(app, s.name).length > 0) ?? app.services[0])?.name ?? "";
}

const OTHER = "other";

/**
 * Adds a domain: a name, the app, service and container port it is served
 * from, and HTTPS. `apps` is shown until the form's own listing answers;
 * `app` is picked from the start.
 */
export function AddDomainDialog({ apps: known, app: preset, onClose }: { apps: App[] | null; app?: string; onClose: () => void }) {
  const { backend, server } = useServer();
  const store = useDomains();
  const listed = useLoad(() => backend.call(server, { call: "list_apps", args: {} }), [backend, server]);
  const apps = useMemo(() => [...(listed.data ?? known ?? [])].sort((a, b) => a.name.localeCompare(b.name)), [listed.data, known]);

  const [domain, setDomain] = useState("");
  const [appName, setAppName] = useState(preset ?? "");
  const [service, setService] = useState("");
  const [portChoice, setPortChoice] = useState<string>(OTHER);
  const [otherPort, setOtherPort] = useState("");
  const [ssl, setSsl] = useState(true);
  const [forceHttps, setForceHttps] = useState(true);
  const [skipPreflight, setSkipPreflight] = useState(false);
  const [errs, setErrs] = useState<Partial<Record<FormField, string>>>({});
  const [formError, setFormError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const current = apps.find((a) => a.name === appName);
  const ports = servicePorts(current, service);
  const port = ports.length === 0 || portChoice === OTHER ? otherPort.trim() : portChoice;

  const pickService = (a: App | undefined, s: string) => {
    setService(s);
    const known = servicePorts(a, s);
    setPortChoice(known.length ? String(known[0]) : OTHER);
    setErrs(({ target: _t, port: _p, ...rest }) => rest);
  };
  const pickApp = (name: string) => {
    setAppName(name);
    const a = apps.find((x) => x.name === name);
    pickService(a, a ? preferredService(a) : "");
  };

  // Once the apps are known: the picked app's likeliest service and port.
  useEffect(() => {
    if (current && !current.services.some((s) => s.name === service)) pickService(current, preferredService(current));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [current]);

  function check(): Partial<Record<FormField, string>> {
    const e: Partial<Record<FormField, string>> = {};
    const name = domain.trim();
    if (!name) e.domain = "Enter a domain, such as blog.example.com.";
    else if (/[\s/:]/.test(name)) e.domain = "Only the name, such as blog.example.com: no https://, port or path.";
    if (!appName) e.target = "Pick the app to serve.";
    else if (!service) e.target = `${appName} has no service to serve.`;
    if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) e.port = port ? "A port is a number from 1 to 65535." : "Enter the port the container listens on.";
    return e;
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const e = check();
    setErrs(e);
    setFormError(null);
    if (Object.keys(e).length) return;
    setBusy(true);
    try {
      const d = await backend.call(server, {
        call: "add_domain",
        args: { domain: domain.trim(), target: domainTarget(appName, service, Number(port)), redirect_to: null, ssl, force_https: ssl && forceHttps, skip_preflight: ssl && skipPreflight },
      });
      store.put(d);
      store.proxyAnswered();
      onClose();
    } catch (err) {
      const u = toUiError(err);
      if (store.refused(u)) {
        // The Domains view says what that means.
        onClose();
        return;
      }
      const mine: Partial<Record<FormField, string>> = {};
      const rest = u.fields.filter((f) => {
        const k = AGENT_FIELDS[f.field];
        if (!k) return true;
        mine[k] = mine[k] ? `${mine[k]} ${f.message}` : f.message;
        return false;
      });
      setErrs(mine);
      if (rest.length || u.fields.length === 0) setFormError({ ...u, fields: rest });
    } finally {
      setBusy(false);
    }
  }

  const invalid = (f: FormField) => cx(errs[f] && "border-red-400 dark:border-red-700");
  const appOptions = current || !appName ? apps : [...apps, { name: appName, managed: true, services: [] } as unknown as App];

  return (
    <Dialog
      open
      wide
      onClose={() => !busy && onClose()}
      title="Add a domain"
      testId="add-domain-dialog"
      description="The server's reverse proxy serves the domain from a container of the app. Point the domain's DNS records (A or AAAA) at this server first, so a certificate can be issued."
      footer={
        <>
          {Object.keys(errs).length > 0 && !formError && <span className="mr-auto self-center text-xs text-red-600 dark:text-red-400">Check the highlighted fields.</span>}
          <Button type="button" variant="secondary" disabled={busy} onClick={onClose} data-testid="add-domain-cancel">
            Cancel
          </Button>
          <Button type="submit" form="add-domain-form" variant="primary" busy={busy} data-testid="add-domain-submit">
            {!busy && <Plus className="size-4" />} {busy ? "Adding…" : "Add domain"}
          </Button>
        </>
      }
    >
      <form id="add-domain-form" noValidate onSubmit={(e) => void submit(e)} className="space-y-4" data-testid="add-domain-form">
        <div className="space-y-1.5">
          <label htmlFor="add-domain-domain" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
            Domain
          </label>
          <Input
            id="add-domain-domain"
            data-testid="add-domain-domain"
            autoFocus
            spellCheck={false}
            autoComplete="off"
            placeholder="blog.example.com"
            aria-invalid={!!errs.domain}
            className={cx("font-mono", invalid("domain"))}
            value={domain}
            onChange={(e) => {
              setDomain(e.target.value);
              setErrs(({ domain: _, ...rest }) => rest);
            }}
          />
          <FieldMessage message={errs.domain} testId="add-domain-domain-error" />
        </div>

        <fieldset className="space-y-1.5">
          <legend className="mb-1.5 block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">Served from</legend>
          <div className="grid gap-3 sm:grid-cols-3">
            <Picker label="App" htmlFor="add-domain-app">
              <Select
                id="add-domain-app"
                data-testid="add-domain-app"
                className={cx("w-full", invalid("target"))}
                aria-invalid={!!errs.target}
                value={appName}
                onChange={(e) => pickApp(e.target.value)}
              >
                {!appName && <option value="">{listed.loading && !apps.length ? "Loading apps…" : "Pick an app"}</option>}
                {appOptions.map((a) => (
                  <option key={a.name} value={a.name}>
                    {a.name}
                    {a.managed ? "" : " (created outside AppOS)"}
                  </option>
                ))}
              </Select>
            </Picker>
            <Picker label="Service" htmlFor="add-domain-service">
              <Select
                id="add-domain-service"
                data-testid="add-domain-service"
                className={cx("w-full", invalid("target"))}
                aria-invalid={!!errs.target}
                disabled={!current || current.services.length === 0}
                value={service}
                onChange={(e) => pickService(current, e.target.value)}
              >
                {!service && <option value="">{current ? "no services" : "—"}</option>}
                {current?.services.map((s) => (
                  <option key={s.name} value={s.name}>
                    {s.name}
                  </option>
                ))}
              </Select>
            </Picker>
            <Picker label="Container port" htmlFor={ports.length ? "add-domain-port" : "add-domain-port-other"}>
              <div className="flex gap-1.5">
                {ports.length > 0 && (
                  <Select
                    id="add-domain-port"
                    data-testid="add-domain-port"
                    className={cx(portChoice === OTHER ? "w-24 shrink-0" : "w-full", invalid("port"))}
                    value={portChoice}
                    onChange={(e) => {
                      setPortChoice(e.target.value);
                      setErrs(({ port: _, ...rest }) => rest);
                    }}
                  >
                    {ports.map((p) => (
                      <option key={p} value={String(p)}>
                        {p}
                      </option>
                    ))}
                    <option value={OTHER}>other…</option>
                  </Select>
                )}
                {(ports.length === 0 || portChoice === OTHER) && (
                  <Input
                    id="add-domain-port-other"
                    data-testid="add-domain-port-other"
                    aria-label="Container port"
                    inputMode="numeric"
                    spellCheck={false}
                    placeholder="e.g. 8080"
                    aria-invalid={!!errs.port}
                    className={cx("h-8 font-mono text-[13px]", invalid("port"))}
                    value={otherPort}
                    onChange={(e) => {
                      setOtherPort(e.target.value);
                      setErrs(({ port: _, ...rest }) => rest);
                    }}
                  />
                )}
              </div>
            </Picker>
          </div>
          <FieldMessage message={errs.port} testId="add-domain-port-error" />
          <FieldMessage message={errs.target} testId="add-domain-target-error" />
          {!errs.target && !errs.port && (
            <p className="text-xs text-zinc-500" data-testid="add-domain-target">
              {appName && service && port ? (
                <>
                  Requests go to port {port} of {appName}'s {service} containers: <code className="font-mono">{domainTarget(appName, service, port)}</code>
                  {ports.length === 0 && current && " (no port of this service is known: enter the one it listens on)"}
                </>
              ) : (
                "The port the service listens on inside its containers, not a published one."
              )}
            </p>
          )}
        </fieldset>

        <div className="space-y-1.5">
          <Checkbox
            data-testid="add-domain-ssl"
            checked={ssl}
            onChange={(e) => setSsl(e.target.checked)}
            label={
              <>
                HTTPS <span className="text-zinc-500">— with a certificate AppOS orders and renews</span>
              </>
            }
          />
          <div className="pl-6">
            <Checkbox
              data-testid="add-domain-force-https"
              checked={ssl && forceHttps}
              disabled={!ssl}
              onChange={(e) => {
                setForceHttps(e.target.checked);
                setErrs(({ force_https: _, ...rest }) => rest);
              }}
              label="Redirect HTTP to HTTPS"
            />
          </div>
          <div className="pl-6">
            <Checkbox
              data-testid="add-domain-skip-preflight"
              checked={ssl && skipPreflight}
              disabled={!ssl}
              onChange={(e) => setSkipPreflight(e.target.checked)}
              label="Order even if the domain does not point here yet"
            />
            <p className="mt-0.5 pl-6 text-xs text-zinc-500" data-testid="add-domain-skip-preflight-help">
              Normally AppOS first checks that the domain reaches this server, so that the certificate authority's rate limits are not spent on an order that would fail.
            </p>
          </div>
          <FieldMessage message={errs.force_https} testId="add-domain-force-https-error" />
        </div>

        {formError && <ErrorAlert error={formError} title={formError.code === "invalid_input" ? "The server refused this domain" : "Could not add the domain"} testId="add-domain-error" />}
      </form>
    </Dialog>
  );
}

function Picker({ label, htmlFor, children }: { label: string; htmlFor: string; children: ReactNode }) {
  return (
    <div className="min-w-0 space-y-1">
      <label htmlFor={htmlFor} className="block text-xs text-zinc-500">
        {label}
      </label>
      {children}
    </div>
  );
}
