// The server's Alerts tab: the alerts of the last 30 days, firing ones first;
// the rules that raise them, edited in place; the channels the agent sends
// them through, each with a test message; and the tab bar's firing count.
import { useMemo, useState, type FormEvent, type ReactNode } from "react";
import { BellOff, Check, Pencil, Plus, RefreshCw, Send, Trash2 } from "lucide-react";
import { toUiError } from "../api/backend";
import type { UiError } from "../api/desktop.gen";
import type { Alert, AlertRule, AlertRuleSettings, AlertRuleUpdate, Channel, ChannelConfig, SmtpSecurity } from "../api/types.gen";
import { CHANNEL_KINDS, channelKindWords, recipients, repeatText, ruleWords, sortAlerts, thresholdText, windowText } from "../lib/alerts";
import { errorHint } from "../lib/errors";
import { fmtAge, fmtAgo, fmtTime } from "../lib/format";
import { useDebounced, useLoad, useTick, type Loaded } from "../lib/hooks";
import { useServer, useServerEvents } from "../lib/server";
import { Badge, Button, Checkbox, cx, Dialog, EmptyState, ErrorAlert, FieldMessage, Input, LoadingBlock, Select } from "./ui";

export function AlertsView() {
  const { backend, server } = useServer();
  const alerts = useLoad(() => backend.call(server, { call: "list_alerts", args: { firing: false } }), [backend, server]);
  const rules = useLoad(() => backend.call(server, { call: "list_alert_rules", args: {} }), [backend, server]);
  const channels = useLoad(() => backend.call(server, { call: "list_channels", args: {} }), [backend, server]);
  const refreshSoon = useDebounced(() => void alerts.reload(), 300);
  useServerEvents((e) => {
    if (e.kind === "alert") refreshSoon();
  });
  const refreshing = alerts.loading || rules.loading || channels.loading;
  const refresh = () => {
    void alerts.reload();
    void rules.reload();
    void channels.reload();
  };
  const firing = alerts.data?.filter((a) => a.state === "firing").length ?? 0;
  const resolved = (alerts.data?.length ?? 0) - firing;
  return (
    <div data-testid="alerts">
      <div className="mb-1 flex flex-wrap items-center gap-3">
        <h2 className="text-lg font-semibold tracking-tight">Alerts</h2>
        {alerts.data && alerts.data.length > 0 && (
          <span className="text-xs text-zinc-500" data-testid="alerts-summary">
            {firing} firing · {resolved} resolved
          </span>
        )}
        <div className="flex-1" />
        <Button size="sm" variant="ghost" aria-label="Refresh alerts" data-testid="alerts-refresh" onClick={refresh}>
          <RefreshCw className={cx("size-4", refreshing && "animate-spin")} />
        </Button>
      </div>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400" data-testid="alerts-intro">
        The agent watches this server's apps, memory, disk and certificates, and sends an alert through its channels when a rule holds. While AppOS runs, this computer shows
        them too.
      </p>
      <div className="space-y-8">
        <AlertsList loaded={alerts} />
        <RulesSection loaded={rules} />
        <ChannelsSection loaded={channels} />
      </div>
    </div>
  );
}

function AlertsList({ loaded }: { loaded: Loaded<Alert[]> }) {
  const rows = useMemo(() => (loaded.data ? sortAlerts(loaded.data) : null), [loaded.data]);
  useTick(!!rows?.length, 30_000);
  if (!rows)
    return loaded.error ? (
      <ErrorAlert error={loaded.error} title="Could not list the alerts" testId="alerts-error" onRetry={() => void loaded.reload()} />
    ) : (
      <LoadingBlock label="Loading alerts…" rows={2} />
    );
  return (
    <section data-testid="alerts-list">
      {loaded.error && <ErrorAlert className="mb-3" error={loaded.error} title="Could not refresh the alerts" testId="alerts-error" onRetry={() => void loaded.reload()} />}
      {rows.length === 0 ? (
        <EmptyState icon={<BellOff className="size-10" />} title="No alerts in the last 30 days">
          The rules below raise one when something needs attention.
        </EmptyState>
      ) : (
        <ul className="divide-y divide-zinc-100 overflow-hidden rounded-xl border border-zinc-200 dark:divide-zinc-800 dark:border-zinc-800">
          {rows.map((a) => (
            <AlertRow key={a.id} alert={a} />
          ))}
        </ul>
      )}
    </section>
  );
}

function AlertRow({ alert: a }: { alert: Alert }) {
  const { nav } = useServer();
  const firing = a.state === "firing";
  const when = firing ? `firing for ${fmtAge(a.fired_at_ms)}` : `resolved ${fmtAgo(a.resolved_at_ms ?? a.fired_at_ms)}`;
  const title = `Fired ${fmtTime(a.fired_at_ms)}${a.resolved_at_ms !== null ? `, resolved ${fmtTime(a.resolved_at_ms)}` : ""}`;
  return (
    <li data-testid={`alert-${a.id}`} data-state={a.state} className={cx("flex items-start gap-3 px-4 py-3", !firing && "text-zinc-500 dark:text-zinc-400")}>
      <Badge tone={firing ? (a.severity === "critical" ? "red" : "amber") : "zinc"} className="mt-0.5 shrink-0" data-testid={`alert-severity-${a.id}`}>
        {firing ? a.severity : "resolved"}
      </Badge>
      <div className="min-w-0 flex-1">
        <p className="text-sm">
          <span className={cx("font-medium", firing && "text-zinc-900 dark:text-zinc-100")} data-testid={`alert-rule-${a.id}`}>
            {ruleWords(a.rule)}
          </span>
          {a.app && (
            <>
              {" · "}
              <button
                type="button"
                className="font-medium text-indigo-600 hover:underline dark:text-indigo-400"
                title={`Open ${a.app}`}
                data-testid={`alert-app-${a.id}`}
                onClick={() => nav.go({ view: "app", app: a.app!, tab: "overview" })}
              >
                {a.app}
              </button>
            </>
          )}
        </p>
        <p className={cx("text-sm break-words", firing ? "text-zinc-700 dark:text-zinc-300" : "")} data-testid={`alert-summary-${a.id}`}>
          {a.summary}
        </p>
      </div>
      <span className="shrink-0 text-xs whitespace-nowrap text-zinc-500" title={title} data-testid={`alert-when-${a.id}`}>
        {when}
      </span>
    </li>
  );
}

function RulesSection({ loaded }: { loaded: Loaded<AlertRuleSettings[]> }) {
  const [editing, setEditing] = useState<AlertRule | null>(null);
  const rows = loaded.data;
  return (
    <section data-testid="alert-rules">
      <h3 className="mb-1 text-[15px] font-semibold">Rules</h3>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400">
        What raises an alert, how long it must last first, and how often an alert that lasts is sent again. Changing a rule needs an admin token.
      </p>
      {loaded.error && (
        <ErrorAlert className="mb-3" error={loaded.error} title={rows ? "Could not refresh the rules" : "Could not list the rules"} testId="alert-rules-error" onRetry={() => void loaded.reload()} />
      )}
      {rows === null ? (
        !loaded.error && <LoadingBlock label="Loading rules…" rows={2} />
      ) : (
        <div className="overflow-x-auto rounded-xl border border-zinc-200 dark:border-zinc-800">
          <table className="w-full text-sm" data-testid="alert-rules-table">
            <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
              <tr>
                <th className="px-4 py-2">Rule</th>
                <th className="px-4 py-2">On</th>
                <th className="px-4 py-2">Threshold</th>
                <th className="px-4 py-2">Window</th>
                <th className="px-4 py-2">Repeat</th>
                <th />
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {rows.map((r) =>
                editing === r.rule ? (
                  <RuleEditor
                    key={r.rule}
                    rule={r}
                    onDone={(saved) => {
                      if (saved) loaded.setData(rows.map((x) => (x.rule === saved.rule ? saved : x)));
                      setEditing(null);
                    }}
                  />
                ) : (
                  <RuleRow key={r.rule} rule={r} onEdit={() => setEditing(r.rule)} />
                ),
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function RuleRow({ rule: r, onEdit }: { rule: AlertRuleSettings; onEdit: () => void }) {
  const words = ruleWords(r.rule);
  return (
    <tr data-testid={`rule-${r.rule}`} data-enabled={r.enabled}>
      <td className="px-4 py-2.5 font-medium">{words}</td>
      <td className="px-4 py-2.5">
        <Badge tone={r.enabled ? "green" : "zinc"} data-testid={`rule-on-${r.rule}`}>
          {r.enabled ? "on" : "off"}
        </Badge>
      </td>
      <td className={cx("px-4 py-2.5 whitespace-nowrap", !r.enabled && "text-zinc-400 dark:text-zinc-500")} data-testid={`rule-threshold-${r.rule}`}>
        {thresholdText(r)}
      </td>
      <td className={cx("px-4 py-2.5 whitespace-nowrap", !r.enabled && "text-zinc-400 dark:text-zinc-500")} data-testid={`rule-window-${r.rule}`}>
        {windowText(r.window_secs)}
      </td>
      <td className={cx("px-4 py-2.5 whitespace-nowrap", !r.enabled && "text-zinc-400 dark:text-zinc-500")} data-testid={`rule-repeat-${r.rule}`}>
        {repeatText(r.repeat_secs)}
      </td>
      <td className="pr-2 text-right">
        <Button size="sm" variant="ghost" className="px-2 text-zinc-500" aria-label={`Edit ${words}`} title={`Edit ${words}`} data-testid={`rule-edit-${r.rule}`} onClick={onEdit}>
          <Pencil className="size-4" />
        </Button>
      </td>
    </tr>
  );
}

type RuleField = "threshold" | "window_secs" | "repeat_secs";
const RULE_FIELDS: Record<RuleField, string> = { threshold: "Threshold", window_secs: "Window", repeat_secs: "Repeat" };

/** A rule's row while edited: on/off and the numbers, saved with the fields that changed. */
function RuleEditor({ rule: r, onDone }: { rule: AlertRuleSettings; onDone: (saved: AlertRuleSettings | null) => void }) {
  const { backend, server } = useServer();
  const [enabled, setEnabled] = useState(r.enabled);
  const [threshold, setThreshold] = useState(String(r.threshold));
  const [windowSecs, setWindowSecs] = useState(String(r.window_secs));
  const [repeatSecs, setRepeatSecs] = useState(String(r.repeat_secs));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [bad, setBad] = useState<Set<string>>(new Set());
  const words = ruleWords(r.rule);

  function fail(fields: { field: string; message: string }[]) {
    setBad(new Set(fields.map((f) => f.field)));
    setError(fields.map((f) => `${RULE_FIELDS[f.field as RuleField] ?? f.field}: ${f.message}`).join(" "));
  }

  async function save(ev: FormEvent) {
    ev.preventDefault();
    const t = Number(threshold.trim());
    const checks: { field: string; message: string }[] = [];
    if (r.threshold_unit && (!threshold.trim() || !Number.isFinite(t) || t < 0)) checks.push({ field: "threshold", message: "a number, 0 or more" });
    if (!/^\d+$/.test(windowSecs.trim())) checks.push({ field: "window_secs", message: "whole seconds, 0 or more" });
    if (!/^\d+$/.test(repeatSecs.trim())) checks.push({ field: "repeat_secs", message: "whole seconds, 0 or more" });
    if (checks.length) return fail(checks);
    const update: AlertRuleUpdate = {};
    if (enabled !== r.enabled) update.enabled = enabled;
    if (r.threshold_unit && t !== r.threshold) update.threshold = t;
    if (Number(windowSecs) !== r.window_secs) update.window_secs = Number(windowSecs);
    if (Number(repeatSecs) !== r.repeat_secs) update.repeat_secs = Number(repeatSecs);
    if (Object.keys(update).length === 0) return onDone(null);
    setBusy(true);
    setError(null);
    setBad(new Set());
    try {
      onDone(await backend.call(server, { call: "update_alert_rule", args: { rule: r.rule, update } }));
    } catch (e) {
      const u = toUiError(e);
      if (u.fields.length) fail(u.fields);
      else {
        const hint = errorHint(u);
        setError(hint ? `${u.message} ${hint}` : u.message);
      }
      setBusy(false);
    }
  }

  const form = `rule-form-${r.rule}`;
  const number = (field: RuleField, value: string, set: (v: string) => void, suffix: ReactNode) => (
    <span className="inline-flex items-center gap-1.5">
      <Input
        form={form}
        aria-label={`${RULE_FIELDS[field]} of ${words}`}
        data-testid={`rule-input-${field}-${r.rule}`}
        inputMode={field === "threshold" ? "decimal" : "numeric"}
        aria-invalid={bad.has(field)}
        className={cx("h-8 w-20 font-mono text-[13px]", bad.has(field) && "border-red-400 dark:border-red-700")}
        value={value}
        onChange={(e) => set(e.target.value)}
      />
      <span className="text-xs whitespace-nowrap text-zinc-500">{suffix}</span>
    </span>
  );

  return (
    <>
      <tr data-testid={`rule-${r.rule}`} data-editing="true" className="bg-zinc-50/60 dark:bg-zinc-900/40">
        <td className="px-4 py-2.5 font-medium">{words}</td>
        <td className="px-4 py-2.5">
          <Checkbox form={form} data-testid={`rule-input-enabled-${r.rule}`} checked={enabled} onChange={(e) => setEnabled(e.target.checked)} label="on" />
        </td>
        <td className="px-4 py-2.5">{r.threshold_unit ? number("threshold", threshold, setThreshold, r.threshold_unit) : "—"}</td>
        <td className="px-4 py-2.5">{number("window_secs", windowSecs, setWindowSecs, "s")}</td>
        <td className="px-4 py-2.5">{number("repeat_secs", repeatSecs, setRepeatSecs, "s, 0: once")}</td>
        <td className="pr-2 text-right whitespace-nowrap">
          <form id={form} noValidate onSubmit={(e) => void save(e)} className="inline-flex gap-1">
            <Button type="button" size="sm" variant="ghost" disabled={busy} data-testid={`rule-cancel-${r.rule}`} onClick={() => onDone(null)}>
              Cancel
            </Button>
            <Button type="submit" size="sm" variant="primary" busy={busy} data-testid={`rule-save-${r.rule}`}>
              Save
            </Button>
          </form>
        </td>
      </tr>
      {error && (
        <tr>
          <td colSpan={6} className="px-4 pb-2.5">
            <p role="alert" className="text-xs text-red-600 dark:text-red-400" data-testid={`rule-error-${r.rule}`}>
              {error}
            </p>
          </td>
        </tr>
      )}
    </>
  );
}

function ChannelsSection({ loaded }: { loaded: Loaded<Channel[]> }) {
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Channel | null>(null);
  const rows = loaded.data;
  return (
    <section data-testid="alert-channels">
      <div className="mb-1 flex items-center gap-3">
        <h3 className="text-[15px] font-semibold">Channels</h3>
        {rows && <span className="text-xs text-zinc-500">{rows.length === 1 ? "1 channel" : `${rows.length} channels`}</span>}
        <div className="flex-1" />
        <Button size="sm" variant="primary" data-testid="channels-add" onClick={() => setAdding(true)}>
          <Plus className="size-4" /> Add channel
        </Button>
      </div>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400">
        Where the agent sends each alert, even while this computer is off. Adding or removing a channel needs an admin token.
      </p>
      {loaded.error && (
        <ErrorAlert className="mb-3" error={loaded.error} title={rows ? "Could not refresh the channels" : "Could not list the channels"} testId="channels-error" onRetry={() => void loaded.reload()} />
      )}
      {rows === null ? (
        !loaded.error && <LoadingBlock label="Loading channels…" rows={1} />
      ) : rows.length === 0 ? (
        <EmptyState icon={<Send className="size-10" />} title="No channels yet">
          Add a webhook, an ntfy topic, a Slack or Discord webhook, or email recipients to hear of alerts away from this computer.
        </EmptyState>
      ) : (
        <div className="overflow-x-auto rounded-xl border border-zinc-200 dark:border-zinc-800">
          <table className="w-full text-sm" data-testid="channels-table">
            <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
              <tr>
                <th className="px-4 py-2">Name</th>
                <th className="px-4 py-2">Kind</th>
                <th className="px-4 py-2">Sends to</th>
                <th />
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {rows.map((c) => (
                <ChannelRow key={c.name} channel={c} onRemove={() => setRemoving(c)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {adding && (
        <AddChannelDialog
          onClose={() => setAdding(false)}
          onAdded={(c) => {
            loaded.setData([...(rows ?? []).filter((x) => x.name !== c.name), c]);
            setAdding(false);
          }}
        />
      )}
      {removing && (
        <RemoveChannelDialog
          channel={removing}
          onClose={() => setRemoving(null)}
          onRemoved={() => {
            loaded.setData((rows ?? []).filter((x) => x.name !== removing.name));
            setRemoving(null);
          }}
        />
      )}
    </section>
  );
}

type TestState = { state: "idle" } | { state: "sending" } | { state: "sent" } | { state: "failed"; error: UiError };

function ChannelRow({ channel: c, onRemove }: { channel: Channel; onRemove: () => void }) {
  const { backend, server } = useServer();
  const [test, setTest] = useState<TestState>({ state: "idle" });

  async function sendTest() {
    setTest({ state: "sending" });
    try {
      await backend.call(server, { call: "test_channel", args: { name: c.name } });
      setTest({ state: "sent" });
    } catch (e) {
      setTest({ state: "failed", error: toUiError(e) });
    }
  }

  return (
    <tr data-testid={`channel-${c.name}`} className="align-top">
      <td className="px-4 py-2.5">
        <span className="font-mono text-[13px] font-medium">{c.name}</span>
        {c.configured && (
          <span className="block text-xs text-zinc-500" data-testid={`channel-configured-${c.name}`}>
            from the agent's configuration
          </span>
        )}
      </td>
      <td className="px-4 py-2.5 whitespace-nowrap">{channelKindWords(c.kind)}</td>
      <td className="px-4 py-2.5">
        <span className="font-mono text-xs break-all" data-testid={`channel-target-${c.name}`}>
          {c.target}
        </span>
        {test.state === "sent" && (
          <span className="mt-0.5 flex items-center gap-1 text-xs font-medium text-emerald-700 dark:text-emerald-400" data-testid={`channel-test-result-${c.name}`}>
            <Check className="size-3.5" aria-hidden />
            Sent
          </span>
        )}
        {test.state === "failed" && (
          <span role="alert" className="mt-0.5 block text-xs break-words text-red-600 dark:text-red-400" data-testid={`channel-test-result-${c.name}`}>
            {test.error.message}
          </span>
        )}
      </td>
      <td className="pr-2 text-right whitespace-nowrap">
        <Button
          size="sm"
          variant="secondary"
          busy={test.state === "sending"}
          title={`Send a test message through ${c.name}`}
          data-testid={`channel-test-${c.name}`}
          onClick={() => void sendTest()}
        >
          {test.state !== "sending" && <Send className="size-4" />} Send test
        </Button>
        {!c.configured && (
          <Button
            size="sm"
            variant="ghost"
            className="ml-1 px-2 text-zinc-500 hover:text-red-600 dark:hover:text-red-400"
            aria-label={`Remove ${c.name}`}
            title={`Remove ${c.name}`}
            data-testid={`channel-remove-${c.name}`}
            onClick={onRemove}
          >
            <Trash2 className="size-4" />
          </Button>
        )}
      </td>
    </tr>
  );
}

function RemoveChannelDialog({ channel: c, onClose, onRemoved }: { channel: Channel; onClose: () => void; onRemoved: () => void }) {
  const { backend, server } = useServer();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);

  async function remove() {
    setBusy(true);
    setError(null);
    try {
      await backend.call(server, { call: "remove_channel", args: { name: c.name } });
      onRemoved();
    } catch (e) {
      const u = toUiError(e);
      // Gone already: the list says so.
      if (u.code === "not_found") onRemoved();
      else {
        setError(u);
        setBusy(false);
      }
    }
  }

  return (
    <Dialog
      open
      onClose={() => !busy && onClose()}
      tone="danger"
      title={`Remove the channel ${c.name}?`}
      testId="remove-channel-dialog"
      description={
        <>
          Alerts are no longer sent to <span className="font-mono text-xs">{c.target}</span>. The other channels and this computer's notifications go on.
        </>
      }
      footer={
        <>
          <Button variant="ghost" disabled={busy} onClick={onClose} data-testid="remove-channel-cancel">
            Cancel
          </Button>
          <Button variant="danger" busy={busy} data-testid="remove-channel-confirm" onClick={() => void remove()}>
            Remove channel
          </Button>
        </>
      }
    >
      {error ? <ErrorAlert error={error} title={`Could not remove ${c.name}`} testId="remove-channel-error" /> : null}
    </Dialog>
  );
}

type Kind = ChannelConfig["kind"];
type FormField = "name" | "url" | "token" | "host" | "port" | "username" | "password" | "from" | "to";
/** The agent's names for the form's fields. */
const AGENT_FIELDS: Record<string, FormField> = {
  name: "name",
  "config.url": "url",
  "config.token": "token",
  "config.host": "host",
  "config.port": "port",
  "config.username": "username",
  "config.password": "password",
  "config.from": "from",
  "config.to": "to",
};
const SECURITY: { value: SmtpSecurity; label: string; port: number }[] = [
  { value: "starttls", label: "STARTTLS", port: 587 },
  { value: "tls", label: "TLS", port: 465 },
  { value: "none", label: "None (unencrypted)", port: 25 },
];
const URL_HELP: Record<Exclude<Kind, "email">, { label: string; placeholder: string; help: string }> = {
  webhook: { label: "URL", placeholder: "https://hooks.example.com/appos", help: "Each alert is posted to this URL as JSON." },
  ntfy: { label: "Topic URL", placeholder: "https://ntfy.sh/my-topic", help: "The topic's URL on ntfy.sh or your own ntfy server." },
  slack: { label: "Webhook URL", placeholder: "https://hooks.slack.com/services/…", help: "An incoming webhook of your Slack workspace." },
  discord: { label: "Webhook URL", placeholder: "https://discord.com/api/webhooks/…", help: "A webhook of your Discord channel." },
};

interface ChannelForm {
  name: string;
  kind: Kind;
  url: string;
  token: string;
  host: string;
  port: string;
  security: SmtpSecurity;
  username: string;
  password: string;
  from: string;
  to: string;
}

function channelConfig(f: ChannelForm): ChannelConfig {
  switch (f.kind) {
    case "webhook":
    case "slack":
    case "discord":
      return { kind: f.kind, url: f.url.trim() };
    case "ntfy":
      return { kind: "ntfy", url: f.url.trim(), token: f.token.trim() || null };
    case "email":
      return {
        kind: "email",
        host: f.host.trim(),
        port: Number(f.port),
        security: f.security,
        username: f.username.trim() || null,
        password: f.password || null,
        from: f.from.trim(),
        to: recipients(f.to),
      };
  }
}

function check(f: ChannelForm): Partial<Record<FormField, string>> {
  const e: Partial<Record<FormField, string>> = {};
  if (!f.name.trim()) e.name = "Enter a name, such as ops.";
  if (f.kind !== "email") {
    if (!f.url.trim()) e.url = "Enter the URL to send to.";
    return e;
  }
  if (!f.host.trim()) e.host = "Enter the SMTP server's host name.";
  if (!/^\d+$/.test(f.port.trim()) || Number(f.port) < 1 || Number(f.port) > 65535) e.port = "A port is a number from 1 to 65535.";
  if (!f.from.trim()) e.from = "Enter the address alerts come from.";
  if (recipients(f.to).length === 0) e.to = "Enter at least one recipient.";
  return e;
}

/** Adds a channel: a name, a kind and that kind's settings. */
function AddChannelDialog({ onClose, onAdded }: { onClose: () => void; onAdded: (c: Channel) => void }) {
  const { backend, server } = useServer();
  const [f, setF] = useState<ChannelForm>({ name: "", kind: "webhook", url: "", token: "", host: "", port: "587", security: "starttls", username: "", password: "", from: "", to: "" });
  const [errs, setErrs] = useState<Partial<Record<FormField, string>>>({});
  const [formError, setFormError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const set = (field: FormField, value: string) => {
    setF((p) => ({ ...p, [field]: value }));
    setErrs(({ [field]: _, ...rest }) => rest);
  };
  const pickSecurity = (security: SmtpSecurity) =>
    setF((p) => {
      // A port left at the old security's usual one follows the new security.
      const old = SECURITY.find((s) => s.value === p.security)?.port;
      const port = String(old) === p.port.trim() ? String(SECURITY.find((s) => s.value === security)?.port ?? p.port) : p.port;
      return { ...p, security, port };
    });

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const e = check(f);
    setErrs(e);
    setFormError(null);
    if (Object.keys(e).length) return;
    setBusy(true);
    try {
      onAdded(await backend.call(server, { call: "add_channel", args: { name: f.name.trim(), config: channelConfig(f) } }));
    } catch (err) {
      const u = toUiError(err);
      const mine: Partial<Record<FormField, string>> = {};
      const rest = u.fields.filter((x) => {
        const k = AGENT_FIELDS[x.field];
        if (!k) return true;
        mine[k] = mine[k] ? `${mine[k]} ${x.message}` : x.message;
        return false;
      });
      setErrs(mine);
      if (rest.length || u.fields.length === 0) setFormError({ ...u, fields: rest });
      setBusy(false);
    }
  }

  const field = (name: FormField, label: string, input: ReactNode, help?: string) => (
    <div className="space-y-1.5">
      <label htmlFor={`add-channel-${name}`} className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
        {label}
      </label>
      {input}
      {help && !errs[name] && <p className="text-xs text-zinc-500 dark:text-zinc-400">{help}</p>}
      <FieldMessage message={errs[name]} testId={`add-channel-${name}-error`} />
    </div>
  );
  const text = (name: FormField, props: { placeholder?: string; type?: string; mono?: boolean; autoFocus?: boolean } = {}) => (
    <Input
      id={`add-channel-${name}`}
      data-testid={`add-channel-${name}`}
      type={props.type ?? "text"}
      autoFocus={props.autoFocus}
      spellCheck={false}
      autoComplete="off"
      placeholder={props.placeholder}
      aria-invalid={!!errs[name]}
      className={cx("h-8 text-[13px]", props.mono && "font-mono", errs[name] && "border-red-400 dark:border-red-700")}
      value={f[name]}
      onChange={(e) => set(name, e.target.value)}
    />
  );

  return (
    <Dialog
      open
      wide
      onClose={() => !busy && onClose()}
      title="Add a channel"
      testId="add-channel-dialog"
      description="The agent sends each alert through every channel: when it fires, while it lasts as often as its rule says, and when it is resolved."
      footer={
        <>
          {Object.keys(errs).length > 0 && !formError && <span className="mr-auto self-center text-xs text-red-600 dark:text-red-400">Check the highlighted fields.</span>}
          <Button type="button" variant="secondary" disabled={busy} onClick={onClose} data-testid="add-channel-cancel">
            Cancel
          </Button>
          <Button type="submit" form="add-channel-form" variant="primary" busy={busy} data-testid="add-channel-submit">
            {!busy && <Plus className="size-4" />} {busy ? "Adding…" : "Add channel"}
          </Button>
        </>
      }
    >
      <form id="add-channel-form" noValidate onSubmit={(e) => void submit(e)} className="space-y-4" data-testid="add-channel-form">
        <div className="grid gap-4 sm:grid-cols-2">
          {field("name", "Name", text("name", { placeholder: "ops", mono: true, autoFocus: true }), "Lower-case letters, digits and -.")}
          <div className="space-y-1.5">
            <label htmlFor="add-channel-kind" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
              Kind
            </label>
            <Select id="add-channel-kind" data-testid="add-channel-kind" className="w-full" value={f.kind} onChange={(e) => setF((p) => ({ ...p, kind: e.target.value as Kind }))}>
              {(Object.keys(CHANNEL_KINDS) as Kind[]).map((k) => (
                <option key={k} value={k}>
                  {CHANNEL_KINDS[k]}
                </option>
              ))}
            </Select>
          </div>
        </div>

        {f.kind !== "email" ? (
          <>
            {field("url", URL_HELP[f.kind].label, text("url", { placeholder: URL_HELP[f.kind].placeholder, mono: true }), URL_HELP[f.kind].help)}
            {f.kind === "ntfy" && field("token", "Access token (optional)", text("token", { type: "password", mono: true }), "For a topic that needs one.")}
          </>
        ) : (
          <>
            <div className="grid gap-4 sm:grid-cols-[1fr_7rem_10rem]">
              {field("host", "SMTP server", text("host", { placeholder: "smtp.example.com", mono: true }))}
              {field("port", "Port", text("port", { mono: true }))}
              <div className="space-y-1.5">
                <label htmlFor="add-channel-security" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
                  Security
                </label>
                <Select id="add-channel-security" data-testid="add-channel-security" className="w-full" value={f.security} onChange={(e) => pickSecurity(e.target.value as SmtpSecurity)}>
                  {SECURITY.map((s) => (
                    <option key={s.value} value={s.value}>
                      {s.label}
                    </option>
                  ))}
                </Select>
              </div>
            </div>
            <div className="grid gap-4 sm:grid-cols-2">
              {field("username", "User (optional)", text("username", { mono: true }))}
              {field("password", "Password (optional)", text("password", { type: "password" }))}
            </div>
            {field("from", "From", text("from", { placeholder: "appos@example.com", mono: true }))}
            {field("to", "Recipients", text("to", { placeholder: "ops@example.com, alice@example.com", mono: true }), "Separated by commas.")}
          </>
        )}

        {formError && <ErrorAlert error={formError} title={formError.code === "invalid_input" ? "The server refused this channel" : "Could not add the channel"} testId="add-channel-error" />}
      </form>
    </Dialog>
  );
}
