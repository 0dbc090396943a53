// The agent's alerts for people: each rule in words, a notice as a desktop
// notification, a rule's settings as text, the order of the Alerts tab, and
// the firing alerts the tab bar counts.
import { useCallback, useEffect, useRef, useState } from "react";
import type { Backend } from "../api/backend";
import type { Connection } from "../api/desktop.gen";
import type { Alert, AlertNotice, AlertRule, AlertRuleSettings, Event, NoticeKind } from "../api/types.gen";
import { fmtSpan } from "./format";
import { useDebounced } from "./hooks";

const RULE_WORDS: Record<AlertRule, string> = {
  deployment_failed: "Deployment failed",
  restart_loop: "Restart loop",
  unhealthy: "Unhealthy",
  memory_high: "Memory near its limit",
  disk_low: "Disk almost full",
  certificate_expiring: "Certificate expiring",
  backup_failed: "Backup failed",
  backup_stale: "Backup overdue",
};

/** A rule in words, "Restart loop"; a rule of a newer agent as the agent names it. */
export function ruleWords(rule: string): string {
  return RULE_WORDS[rule as AlertRule] ?? rule.replace(/_/g, " ");
}

/** How a channel's kind is written. */
export const CHANNEL_KINDS = { webhook: "Webhook", ntfy: "ntfy", slack: "Slack", discord: "Discord", email: "Email" } as const;

export function channelKindWords(kind: string): string {
  return CHANNEL_KINDS[kind as keyof typeof CHANNEL_KINDS] ?? kind;
}

const NOTICES: NoticeKind[] = ["firing", "repeat", "resolved"];

/** The notice in an `alert` event's data, or null when it is not one. */
export function alertNoticeOf(data: unknown): AlertNotice | null {
  if (!data || typeof data !== "object") return null;
  const d = data as Record<string, unknown>;
  const a = d.alert as Record<string, unknown> | null | undefined;
  if (!NOTICES.includes(d.notice as NoticeKind) || !a || typeof a !== "object") return null;
  if (typeof a.id !== "number" || typeof a.rule !== "string" || typeof a.subject !== "string" || typeof a.summary !== "string") return null;
  return {
    notice: d.notice as NoticeKind,
    server: typeof d.server === "string" ? d.server : "",
    alert: {
      id: a.id,
      rule: a.rule as AlertRule,
      subject: a.subject,
      app: typeof a.app === "string" ? a.app : null,
      severity: a.severity === "critical" ? "critical" : "warning",
      state: a.state === "resolved" ? "resolved" : "firing",
      summary: a.summary,
      details: a.details && typeof a.details === "object" ? (a.details as Record<string, unknown>) : {},
      fired_at_ms: typeof a.fired_at_ms === "number" ? a.fired_at_ms : 0,
      resolved_at_ms: typeof a.resolved_at_ms === "number" ? a.resolved_at_ms : null,
      notices: typeof a.notices === "number" ? a.notices : 0,
    },
  };
}

/** What `session.notified` holds once a notice was notified: each repeat counts its own. */
export function alertNoticeKey(server: string, n: AlertNotice): string {
  return `${server}/alert/${n.alert.id}/${n.notice}/${n.alert.notices}`;
}

const lower = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/**
 * The desktop notification for an alert's notice on `server` (the name this
 * computer knows it by), or null for certificates, which the certificate
 * events notify already.
 */
export function alertNotice(server: string, n: AlertNotice): { title: string; body: string } | null {
  const a = n.alert;
  if (a.rule === "certificate_expiring") return null;
  const what = `${ruleWords(a.rule)} on ${server}: ${a.subject}`;
  let title: string;
  if (n.notice === "resolved") title = `Resolved: ${lower(what)}`;
  else {
    title = a.severity === "critical" ? `Critical: ${lower(what)}` : what;
    if (n.notice === "repeat") title += " (still)";
  }
  return { title, body: a.summary };
}

/** Firing alerts first, critical before warning, newest first; then resolved ones, the latest resolved first. */
export function sortAlerts(list: readonly Alert[]): Alert[] {
  const rank = (a: Alert) => (a.state === "firing" ? (a.severity === "critical" ? 0 : 1) : 2);
  const at = (a: Alert) => (a.state === "firing" ? a.fired_at_ms : a.resolved_at_ms ?? a.fired_at_ms);
  return [...list].sort((a, b) => rank(a) - rank(b) || at(b) - at(a) || b.id - a.id);
}

/** A rule's threshold with its unit, "90% of the limit", "3 exits"; "—" for rules without one. */
export function thresholdText(r: Pick<AlertRuleSettings, "threshold" | "threshold_unit">): string {
  if (!r.threshold_unit) return "—";
  return r.threshold_unit.startsWith("%") ? `${r.threshold}${r.threshold_unit}` : `${r.threshold} ${r.threshold_unit}`;
}

/** How long a condition must hold: "at once", "10 min". */
export function windowText(secs: number): string {
  return secs === 0 ? "at once" : fmtSpan(secs);
}

/** How often a lasting alert is sent again: "once", "every 1 h". */
export function repeatText(secs: number): string {
  return secs === 0 ? "once" : `every ${fmtSpan(secs)}`;
}

/** Email recipients as typed: separated by commas (or spaces, or semicolons). */
export function recipients(text: string): string[] {
  return text.split(/[\s,;]+/).filter(Boolean);
}

/**
 * The server's firing alerts, for the tab bar: listed once connected (again
 * for each new connection), and after each `alert` event. Null until the
 * agent answered; an agent without alerts never does.
 */
export function useFiringAlerts(backend: Backend, server: string, conn: Connection | null, subscribe: (fn: (e: Event) => void) => () => void): Alert[] | null {
  const [list, setList] = useState<Alert[] | null>(null);
  const gen = useRef(0);
  const load = useCallback(async () => {
    const my = ++gen.current;
    try {
      const l = await backend.call(server, { call: "list_alerts", args: { firing: true } });
      if (my === gen.current) setList(l);
    } catch {
      // The badge keeps what it knew; the Alerts tab says what went wrong.
    }
  }, [backend, server]);
  const loadSoon = useDebounced(() => void load(), 300);
  useEffect(() => {
    if (!conn) return;
    void load();
    return () => {
      gen.current++;
    };
  }, [conn, load]);
  useEffect(
    () =>
      subscribe((e) => {
        if (e.kind === "alert") loadSoon();
      }),
    [subscribe, loadSoon],
  );
  return list;
}
