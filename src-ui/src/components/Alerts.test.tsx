import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Alert, AlertRuleSettings, Channel } from "../api/types.gen";
import { alert, alertRule, channel, FakeBackend, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

afterEach(cleanup);

const MIN = 60_000;
const HOUR = 60 * MIN;
const RULES = (["deployment_failed", "restart_loop", "unhealthy", "memory_high", "disk_low", "certificate_expiring"] as const).map((r) => alertRule(r));

/** A fake whose alerts, rules and channels answer from lists the test may change. */
function setup({ alerts = [] as Alert[], rules = RULES, channels = [] as Channel[] } = {}) {
  const b = new FakeBackend();
  const state = { alerts: [...alerts], rules: structuredClone(rules) as AlertRuleSettings[], channels: [...channels] };
  b.on("list_alerts", ({ firing }) => (firing ? state.alerts.filter((a) => a.state === "firing") : state.alerts));
  b.on("list_alert_rules", () => state.rules);
  b.on("list_channels", () => state.channels);
  return { b, state };
}

const value = (id: string) => (byId(id) as HTMLInputElement | HTMLSelectElement).value;
const fill = (id: string, v: string) => fireEvent.change(byId(id), { target: { value: v } });
const click = (id: string) => act(async () => fireEvent.click(byId(id)));

describe("Alerts tab", () => {
  it("lists firing alerts first, critical ones before warnings, then the resolved ones greyed", async () => {
    const now = Date.now();
    const { b } = setup({
      alerts: [
        alert(1, {
          rule: "deployment_failed",
          subject: "blog",
          state: "resolved",
          summary: "the deployment of blog failed: pull: manifest unknown",
          fired_at_ms: now - 26 * HOUR,
          resolved_at_ms: now - 25 * HOUR - MIN,
          notices: 2,
        }),
        alert(2, { rule: "memory_high", subject: "shop-worker-1", app: "shop", severity: "warning", summary: "shop-worker-1 (shop/worker) uses 470 MiB of its 512 MiB memory limit (92%)", fired_at_ms: now - 40 * MIN - 5000 }),
        alert(3, { fired_at_ms: now - 10 * MIN - 5000 }),
        alert(4, { rule: "disk_low", subject: "/", app: null, severity: "warning", summary: "/ has 3.1 GiB free of 40.0 GiB (7.8%)", fired_at_ms: now - 2 * HOUR - 5000 }),
      ],
    });
    renderServer(b, { view: "alerts" });
    await screen.findByTestId("alerts-list");

    expect(screen.getAllByTestId(/^alert-\d+$/).map((r) => r.dataset.testid)).toEqual(["alert-3", "alert-2", "alert-4", "alert-1"]);
    expect(byId("alerts-summary").textContent).toBe("3 firing · 1 resolved");

    expect(byId("alert-3").dataset.state).toBe("firing");
    expect(byId("alert-severity-3").textContent).toBe("critical");
    expect(byId("alert-severity-3").className).toContain("red");
    expect(byId("alert-rule-3").textContent).toBe("Restart loop");
    expect(byId("alert-app-3").textContent).toBe("blog");
    expect(byId("alert-summary-3").textContent).toBe("blog-web-1 (blog/web) exited 4 times in the last 10 min");
    expect(byId("alert-when-3").textContent).toBe("firing for 10 min");

    expect(byId("alert-severity-2").textContent).toBe("warning");
    expect(byId("alert-severity-2").className).toContain("amber");
    expect(byId("alert-rule-2").textContent).toBe("Memory near its limit");
    expect(byId("alert-when-2").textContent).toBe("firing for 40 min");

    expect(byId("alert-rule-4").textContent).toBe("Disk almost full");
    expect(screen.queryByTestId("alert-app-4")).toBeNull();
    expect(byId("alert-when-4").textContent).toBe("firing for 2 h");

    expect(byId("alert-1").dataset.state).toBe("resolved");
    expect(byId("alert-1").className).toContain("text-zinc-500");
    expect(byId("alert-severity-1").textContent).toBe("resolved");
    expect(byId("alert-rule-1").textContent).toBe("Deployment failed");
    expect(byId("alert-summary-1").textContent).toBe("the deployment of blog failed: pull: manifest unknown");
    expect(byId("alert-when-1").textContent).toBe("resolved 1 d ago");

    // The tab bar counts the firing ones, red while one is critical.
    await waitFor(() => expect(screen.queryByTestId("nav-alerts-firing")?.textContent).toBe("3"));
    expect(byId("nav-alerts-firing").dataset.tone).toBe("red");
    expect(byId("nav-alerts-firing").title).toBe("3 firing, 1 critical");

    // An app's name opens the app.
    b.on("get_app", uiError("not_found", "no app blog"));
    await click("alert-app-3");
    expect(byId("nav-apps").dataset.active).toBe("true");
  });

  it("says when there were no alerts, and lists again when an alert event arrives or on refresh", async () => {
    const { b, state } = setup();
    renderServer(b, { view: "alerts" });
    const events = await connected(b);
    expect((await screen.findByTestId("alerts-list")).textContent).toContain("No alerts in the last 30 days");
    expect(screen.queryByTestId("nav-alerts-firing")).toBeNull();
    const lists = () => b.callsOf("list_alerts").filter(([, a]) => !a.firing).length;
    const before = lists();

    // Other events change nothing here.
    events.event("container", "blog", { action: "die" });
    await new Promise((r) => setTimeout(r, 400));
    expect(lists()).toBe(before);

    state.alerts = [alert(9, { severity: "warning", rule: "unhealthy", summary: "blog-web-1 (blog/web) is unhealthy" })];
    events.event("alert", "blog", { notice: "firing", server: "box", alert: state.alerts[0] });
    expect((await screen.findByTestId("alert-summary-9")).textContent).toBe("blog-web-1 (blog/web) is unhealthy");
    expect(lists()).toBe(before + 1);
    await waitFor(() => expect(screen.queryByTestId("nav-alerts-firing")?.textContent).toBe("1"));
    expect(byId("nav-alerts-firing").dataset.tone).toBe("amber");

    state.alerts = [alert(9, { severity: "warning", rule: "unhealthy", state: "resolved", resolved_at_ms: Date.now() - 3000, summary: "blog-web-1 (blog/web) is unhealthy" })];
    await click("alerts-refresh");
    await waitFor(() => expect(byId("alert-when-9").textContent).toBe("resolved just now"));
    expect(byId("alerts-summary").textContent).toBe("0 firing · 1 resolved");
  });

  it("shows the rules in words", async () => {
    const { b } = setup({ rules: RULES.map((r) => (r.rule === "unhealthy" ? { ...r, enabled: false } : r)) });
    renderServer(b, { view: "alerts" });
    await screen.findByTestId("alert-rules-table");
    const row = (rule: string) => [`rule-on-${rule}`, `rule-threshold-${rule}`, `rule-window-${rule}`, `rule-repeat-${rule}`].map((id) => byId(id).textContent);
    expect(within(byId("rule-restart_loop")).getAllByRole("cell")[0].textContent).toBe("Restart loop");
    expect(row("deployment_failed")).toEqual(["on", "—", "at once", "once"]);
    expect(row("restart_loop")).toEqual(["on", "3 exits", "10 min", "every 1 h"]);
    expect(row("unhealthy")).toEqual(["off", "—", "1 min", "every 1 h"]);
    expect(row("memory_high")).toEqual(["on", "90% of the limit", "5 min", "every 1 h"]);
    expect(row("disk_low")).toEqual(["on", "10% free", "at once", "every 6 h"]);
    expect(row("certificate_expiring")).toEqual(["on", "30 days left", "at once", "every 1 d"]);
    expect(byId("rule-unhealthy").dataset.enabled).toBe("false");
  });

  it("edits a rule in place, sending what changed, and shows the agent's refusal", async () => {
    const { b } = setup();
    b.on(
      "update_alert_rule",
      uiError("invalid_input", "Invalid input: threshold: at most 100 for memory_high", [{ field: "threshold", message: "at most 100 for memory_high" }]),
      uiError("forbidden", "Forbidden: this token may only read"),
      ({ rule, update }) => ({ ...alertRule(rule), ...update }) as AlertRuleSettings,
    );
    renderServer(b, { view: "alerts" });
    await screen.findByTestId("rule-edit-memory_high");
    await click("rule-edit-memory_high");
    expect(value("rule-input-threshold-memory_high")).toBe("90");
    expect(value("rule-input-window_secs-memory_high")).toBe("300");
    expect(value("rule-input-repeat_secs-memory_high")).toBe("3600");

    // Checked here first: nothing is sent.
    fill("rule-input-window_secs-memory_high", "5m");
    await click("rule-save-memory_high");
    expect(byId("rule-error-memory_high").textContent).toBe("Window: whole seconds, 0 or more");
    expect(b.callsOf("update_alert_rule")).toHaveLength(0);
    fill("rule-input-window_secs-memory_high", "300");

    fill("rule-input-threshold-memory_high", "150");
    await click("rule-save-memory_high");
    expect((await screen.findByTestId("rule-error-memory_high")).textContent).toBe("Threshold: at most 100 for memory_high");
    expect(byId("rule-input-threshold-memory_high").getAttribute("aria-invalid")).toBe("true");
    expect(b.callsOf("update_alert_rule")).toEqual([["local", { rule: "memory_high", update: { threshold: 150 } }]]);

    fill("rule-input-threshold-memory_high", "95");
    fireEvent.click(byId("rule-input-enabled-memory_high"));
    fill("rule-input-repeat_secs-memory_high", "0");
    await click("rule-save-memory_high");
    await waitFor(() =>
      expect(byId("rule-error-memory_high").textContent).toBe("Forbidden: this token may only read This token may only look; ask an admin for a token with more rights."),
    );

    await click("rule-save-memory_high");
    await waitFor(() => expect(byId("rule-memory_high").dataset.editing).toBeUndefined());
    expect(b.callsOf("update_alert_rule")[2]).toEqual(["local", { rule: "memory_high", update: { enabled: false, threshold: 95, repeat_secs: 0 } }]);
    expect(byId("rule-on-memory_high").textContent).toBe("off");
    expect(byId("rule-threshold-memory_high").textContent).toBe("95% of the limit");
    expect(byId("rule-repeat-memory_high").textContent).toBe("once");
    expect(screen.queryByTestId("rule-error-memory_high")).toBeNull();

    // A rule without a threshold has no field for one; saving nothing changed sends nothing.
    await click("rule-edit-unhealthy");
    expect(screen.queryByTestId("rule-input-threshold-unhealthy")).toBeNull();
    await click("rule-save-unhealthy");
    expect(byId("rule-unhealthy").dataset.editing).toBeUndefined();
    expect(b.callsOf("update_alert_rule")).toHaveLength(3);
  });

  it("lists the channels, the configured one without Remove", async () => {
    const { b } = setup({ channels: [channel("env-webhook", { configured: true, target: "hooks.example.com" }), channel("ops", { kind: "email", target: "smtp.example.com:587 → ops@example.com" })] });
    renderServer(b, { view: "alerts" });
    await screen.findByTestId("channels-table");
    expect(within(byId("channel-env-webhook")).getAllByRole("cell").map((c) => c.textContent?.trim())).toEqual(["env-webhookfrom the agent's configuration", "Webhook", "hooks.example.com", "Send test"]);
    expect(byId("channel-configured-env-webhook").textContent).toBe("from the agent's configuration");
    expect(screen.queryByTestId("channel-remove-env-webhook")).toBeNull();
    expect(within(byId("channel-ops")).getAllByRole("cell").map((c) => c.textContent?.trim())).toEqual(["ops", "Email", "smtp.example.com:587 → ops@example.com", "Send test"]);
    expect(screen.queryByTestId("channel-configured-ops")).toBeNull();
    expect(byId("channel-remove-ops")).toBeTruthy();
  });

  it("adds an email channel with exactly what was typed, showing the agent's field errors", async () => {
    const { b } = setup();
    b.on(
      "add_channel",
      uiError("invalid_input", 'Invalid input: config.from: "appos@" is not an email address', [{ field: "config.from", message: '"appos@" is not an email address' }]),
      (req) => channel(req.name, { kind: req.config.kind, target: "smtp.example.com:587 → a@example.com, b@example.com" }),
    );
    renderServer(b, { view: "alerts" });
    await waitFor(() => expect(screen.getByTestId("alert-channels").textContent).toContain("No channels yet"));
    await click("channels-add");

    // Checked here first.
    await click("add-channel-submit");
    expect(byId("add-channel-name-error").textContent).toBe("Enter a name, such as ops.");
    expect(byId("add-channel-url-error").textContent).toBe("Enter the URL to send to.");
    fill("add-channel-name", "ops");
    fill("add-channel-kind", "email");
    expect(value("add-channel-port")).toBe("587");
    expect(value("add-channel-security")).toBe("starttls");
    await click("add-channel-submit");
    expect(byId("add-channel-host-error").textContent).toBe("Enter the SMTP server's host name.");
    expect(byId("add-channel-from-error").textContent).toBe("Enter the address alerts come from.");
    expect(byId("add-channel-to-error").textContent).toBe("Enter at least one recipient.");
    expect(b.callsOf("add_channel")).toHaveLength(0);

    // The usual port follows the security picked, until one is typed.
    fill("add-channel-security", "tls");
    expect(value("add-channel-port")).toBe("465");
    fill("add-channel-security", "starttls");
    expect(value("add-channel-port")).toBe("587");

    fill("add-channel-host", " smtp.example.com ");
    fill("add-channel-username", "alerts");
    fill("add-channel-password", "s3cret pass");
    fill("add-channel-from", "appos@");
    fill("add-channel-to", "a@example.com, b@example.com");
    await click("add-channel-submit");
    expect((await screen.findByTestId("add-channel-from-error")).textContent).toBe('"appos@" is not an email address');
    expect(screen.queryByTestId("add-channel-error")).toBeNull();

    fill("add-channel-from", "appos@example.com");
    await click("add-channel-submit");
    await waitFor(() => expect(screen.queryByTestId("add-channel-dialog")).toBeNull());
    expect(b.callsOf("add_channel")[1]).toEqual([
      "local",
      {
        name: "ops",
        config: { kind: "email", host: "smtp.example.com", port: 587, security: "starttls", username: "alerts", password: "s3cret pass", from: "appos@example.com", to: ["a@example.com", "b@example.com"] },
      },
    ]);
    expect(byId("channel-target-ops").textContent).toBe("smtp.example.com:587 → a@example.com, b@example.com");
  });

  it("adds an ntfy channel, and shows a refusal that names no field", async () => {
    const { b } = setup();
    b.on("add_channel", uiError("forbidden", "Forbidden: this token may only read"), (req) => channel(req.name, { kind: req.config.kind, target: "ntfy.sh" }));
    renderServer(b, { view: "alerts" });
    await screen.findByTestId("channels-add");
    await click("channels-add");
    fill("add-channel-name", "phone");
    fill("add-channel-kind", "ntfy");
    fill("add-channel-url", "https://ntfy.sh/my-alerts");
    await click("add-channel-submit");
    const err = await screen.findByTestId("add-channel-error");
    expect(err.textContent).toContain("Could not add the channel");
    expect(err.textContent).toContain("Forbidden: this token may only read");
    await click("add-channel-submit");
    await waitFor(() => expect(screen.queryByTestId("add-channel-dialog")).toBeNull());
    expect(b.callsOf("add_channel")[1]).toEqual(["local", { name: "phone", config: { kind: "ntfy", url: "https://ntfy.sh/my-alerts", token: null } }]);
    expect(byId("channel-phone").textContent).toContain("ntfy");
  });

  it("sends a test message through a channel and says how it went", async () => {
    const { b } = setup({ channels: [channel("ops"), channel("phone", { kind: "ntfy", target: "ntfy.sh" })] });
    b.on("test_channel", ({ name }) => (name === "ops" ? null : uiError("other", "The channel failed: ntfy.sh answered 403 Forbidden: check the token")));
    renderServer(b, { view: "alerts" });
    await screen.findByTestId("channels-table");
    await click("channel-test-ops");
    expect((await screen.findByTestId("channel-test-result-ops")).textContent).toBe("Sent");
    await click("channel-test-phone");
    expect((await screen.findByTestId("channel-test-result-phone")).textContent).toBe("The channel failed: ntfy.sh answered 403 Forbidden: check the token");
    expect(b.callsOf("test_channel")).toEqual([
      ["local", { name: "ops" }],
      ["local", { name: "phone" }],
    ]);
  });

  it("removes a channel after asking", async () => {
    const { b, state } = setup({ channels: [channel("ops"), channel("phone", { kind: "ntfy", target: "ntfy.sh" })] });
    b.on("remove_channel", ({ name }) => {
      state.channels = state.channels.filter((c) => c.name !== name);
      return null;
    });
    renderServer(b, { view: "alerts" });
    await screen.findByTestId("channels-table");
    await click("channel-remove-phone");
    expect(byId("remove-channel-dialog").textContent).toContain("Remove the channel phone?");
    expect(byId("remove-channel-dialog").textContent).toContain("Alerts are no longer sent to ntfy.sh.");
    await click("remove-channel-cancel");
    expect(screen.queryByTestId("remove-channel-dialog")).toBeNull();
    expect(b.callsOf("remove_channel")).toHaveLength(0);

    await click("channel-remove-phone");
    await click("remove-channel-confirm");
    await waitFor(() => expect(screen.queryByTestId("remove-channel-dialog")).toBeNull());
    expect(b.callsOf("remove_channel")).toEqual([["local", { name: "phone" }]]);
    expect(screen.queryByTestId("channel-phone")).toBeNull();
    expect(byId("channel-ops")).toBeTruthy();
  });
});
