import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { TokenInfo } from "../api/calls.gen";
import type { Connection } from "../api/desktop.gen";
import { FakeBackend, info, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

afterEach(cleanup);

/** Seconds since the epoch of a local time, as the agent gives them. */
const at = (y: number, mo: number, d: number, h: number, mi: number) => new Date(y, mo - 1, d, h, mi).getTime() / 1000;
const ago = (s: number) => Math.floor(Date.now() / 1000) - s;

const cells = (row: HTMLElement) => [...row.querySelectorAll("td")].map((td) => td.textContent);

describe("Server settings", () => {
  it("lists the tokens under Access, active ones first, with scope, last use and revocation", async () => {
    const b = new FakeBackend();
    // In the agent's order: oldest first.
    const tokens: TokenInfo[] = [
      { name: "appos-cli@old-laptop", scope: "admin", created_at: at(2024, 1, 10, 9, 0), last_used_at: at(2024, 2, 1, 12, 0), revoked_at: at(2024, 3, 5, 8, 15) },
      { name: "appos-desktop@laptop", scope: "admin", created_at: ago(3 * 86400), last_used_at: ago(120), revoked_at: null },
      { name: "grafana", scope: "read", created_at: ago(5 * 3600), last_used_at: null, revoked_at: null },
    ];
    b.on("list_tokens", tokens);
    renderServer(b);
    await connected(b);
    fireEvent.click(byId("nav-settings"));
    expect(byId("nav-settings").dataset.active).toBe("true");

    const rows = await screen.findAllByTestId(/^token-row-/);
    expect(rows.map((r) => r.dataset.testid)).toEqual(["token-row-appos-desktop@laptop", "token-row-grafana", "token-row-appos-cli@old-laptop"]);
    expect(cells(rows[0])).toEqual(["appos-desktop@laptop", "admin", "3 d ago", "2 min ago", ""]);
    expect(cells(rows[1])).toEqual(["grafana", "read", "5 h ago", "never", ""]);
    expect(cells(rows[2])).toEqual(["appos-cli@old-laptop", "admin", "2024-01-10 09:00:00", "2024-02-01 12:00:00", "revoked 2024-03-05 08:15:00"]);
    expect(byId("token-scope-grafana").textContent).toBe("read");
    expect(byId("token-revoked-appos-cli@old-laptop").textContent).toBe("revoked 2024-03-05 08:15:00");
    expect(rows.map((r) => r.dataset.revoked)).toEqual(["false", "false", "true"]);
    expect(screen.queryByTestId("token-revoked-grafana")).toBeNull();
    expect(byId("tokens-help").textContent).toBe(
      "Tokens are issued over SSH when a computer is added, and their secrets are never shown. To revoke one, run appos-agent token revoke NAME on the server.",
    );
    expect(screen.queryByTestId("tokens-error")).toBeNull();
    expect(b.callsOf("list_tokens")).toEqual([["local", {}]]);
  });

  it("shows a read token's refusal with its title and hint, and no table", async () => {
    const b = new FakeBackend();
    b.on("list_tokens", uiError("forbidden", "only admin tokens may list tokens"));
    renderServer(b, { view: "settings" });
    const alert = await screen.findByTestId("tokens-error");
    expect(alert.dataset.code).toBe("forbidden");
    expect(within(alert).getByText("Not allowed")).toBeTruthy();
    expect(within(alert).getByText("only admin tokens may list tokens")).toBeTruthy();
    expect(within(alert).getByText("This token may only look; ask an admin for a token with more rights.")).toBeTruthy();
    expect(screen.queryByTestId("tokens-table")).toBeNull();
    expect(screen.queryAllByTestId(/^token-row-/)).toHaveLength(0);
    expect(screen.queryByText("Loading tokens…")).toBeNull();
    expect(b.callsOf("list_tokens")).toEqual([["local", {}]]);
  });
});

const MB = 1024 * 1024;

/** A server whose agent runs `agent`, on a desktop of version `desktop`, its settings open. */
async function openSettings(agent: string, desktop: string, server = "prod") {
  const b = new FakeBackend();
  b.desktop = desktop;
  b.infos[server] = { ...info, agent_version: agent };
  b.on("list_tokens", []);
  renderServer(b, { view: "settings" }, { server });
  await screen.findByTestId("desktop-version");
  return b;
}

const text = (id: string) => byId(id).textContent;
const newAgent: Connection = { server: "prod", via: "via-prod", info: { ...info, agent_version: "0.2.0" } };
const stepTexts = () => within(byId("upgrade-steps")).getAllByRole("listitem").map((li) => [li.textContent, li.dataset.state]);
const click = (id: string) => act(async () => fireEvent.click(byId(id)));

describe("Server settings: the agent", () => {
  it("shows the agent's version and this computer's, and offers the upgrade of an older agent", async () => {
    const b = await openSettings("0.1.0", "0.2.0");
    expect(text("agent-version")).toBe("AppOS agent 0.1.0");
    expect(text("desktop-version")).toBe("This computer has 0.2.0");
    expect(text("agent-upgrade")).toBe("Upgrade to 0.2.0");
    expect(screen.queryByTestId("agent-up-to-date")).toBeNull();
    expect(screen.queryByTestId("agent-local")).toBeNull();
    expect(screen.queryByTestId("upgrade-dialog")).toBeNull();
    expect(b.callsOf("desktopVersion")).toEqual([[]]);
    cleanup();

    // A pre-release of the desktop's version is older.
    await openSettings("0.2.0-rc.1", "0.2.0");
    expect(text("agent-upgrade")).toBe("Upgrade to 0.2.0");
    cleanup();

    // The same version, or newer: up to date.
    await openSettings("0.2.0", "0.2.0");
    expect(text("agent-version")).toBe("AppOS agent 0.2.0");
    expect(text("agent-up-to-date")).toBe("Up to date");
    expect(screen.queryByTestId("agent-upgrade")).toBeNull();
    cleanup();
    await openSettings("0.3.0", "0.2.0");
    expect(text("agent-version")).toBe("AppOS agent 0.3.0");
    expect(text("desktop-version")).toBe("This computer has 0.2.0");
    expect(text("agent-up-to-date")).toBe("Up to date");
    expect(screen.queryByTestId("agent-upgrade")).toBeNull();
  });

  it("offers no upgrade on this computer: its agent comes with the app", async () => {
    await openSettings("0.1.0", "0.2.0", "local");
    expect(text("agent-version")).toBe("AppOS agent 0.1.0");
    expect(text("desktop-version")).toBe("This computer has 0.2.0");
    expect(text("agent-local")).toBe("This computer's agent comes with this app: it is updated with AppOS.");
    expect(screen.queryByTestId("agent-upgrade")).toBeNull();
    expect(screen.queryByTestId("agent-up-to-date")).toBeNull();
    expect(screen.queryByTestId("upgrade-dialog")).toBeNull();
  });

  it("shows the agent's version when this computer's cannot be read, and offers nothing", async () => {
    const b = new FakeBackend();
    b.desktop = uiError("other", "no version");
    b.on("list_tokens", []);
    renderServer(b, { view: "settings" }, { server: "prod" });
    expect((await screen.findByTestId("desktop-version-error")).textContent).toBe("This computer's version is unknown: no version");
    expect(text("agent-version")).toBe("AppOS agent 0.1.0");
    expect(screen.queryByTestId("agent-upgrade")).toBeNull();
    expect(screen.queryByTestId("agent-up-to-date")).toBeNull();
  });

  it("upgrades after a confirmation, with live progress, then shows the new agent", async () => {
    const b = await openSettings("0.1.0", "0.2.0");
    await connected(b);
    const events = b.stream("events");
    await click("agent-upgrade");
    const dialog = byId("upgrade-dialog");
    expect(within(dialog).getByText("Upgrade the agent on prod")).toBeTruthy();
    expect(within(dialog).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "Your apps keep running.",
      "A task that is running gets a few seconds to end; if it does not, it goes back to the queue and the new agent runs it.",
      "If the new agent does not answer, the old one runs again.",
    ]);
    expect(text("upgrade-confirm")).toBe("Upgrade to 0.2.0");
    expect(b.callsOf("upgradeServer")).toEqual([]);

    await click("upgrade-confirm");
    expect(b.callsOf("upgradeServer")).toEqual([["prod"]]);
    const run = b.upgrade();
    expect(run.server).toBe("prod");
    expect(text("upgrade-confirm")).toBe("Upgrading…");
    expect((byId("upgrade-confirm") as HTMLButtonElement).disabled).toBe(true);
    expect((within(dialog).getByText("Cancel") as HTMLButtonElement).disabled).toBe(true);
    // It cannot be closed while the upgrade runs.
    fireEvent.keyDown(window, { key: "Escape" });
    expect(byId("upgrade-dialog")).toBeTruthy();

    run.step("saving the image from this computer's Docker");
    expect(stepTexts()).toEqual([["saving the image from this computer's Docker", "running"]]);
    run.upload(0, 200 * MB);
    const bar = byId("upgrade-upload");
    expect(bar.getAttribute("role")).toBe("progressbar");
    expect(bar.getAttribute("aria-valuenow")).toBe("0");
    run.upload(150 * MB, 200 * MB);
    expect(bar.getAttribute("aria-valuenow")).toBe("75");
    expect(text("upgrade-upload-text")).toBe("Sending the agent image: 150 MB of 200 MB");
    run.upload(200 * MB, 200 * MB);
    expect(bar.getAttribute("aria-valuenow")).toBe("100");
    run.step("image appos/agent:0.2.0 is on the server; replacing appos/agent:0.1.0");
    expect(stepTexts()).toEqual([
      ["saving the image from this computer's Docker", "done"],
      ["image appos/agent:0.2.0 is on the server; replacing appos/agent:0.1.0", "running"],
    ]);
    expect(screen.queryByTestId("upgrade-done")).toBeNull();
    expect(text("agent-version")).toBe("AppOS agent 0.1.0");

    await run.end(newAgent);
    expect(text("upgrade-done")).toBe("Upgraded to 0.2.0");
    expect(stepTexts().map(([, state]) => state)).toEqual(["done", "done"]);
    expect(screen.queryByTestId("upgrade-error")).toBeNull();
    // The settings page and the header show the new agent.
    expect(text("agent-version")).toBe("AppOS agent 0.2.0");
    expect(text("agent-up-to-date")).toBe("Up to date");
    expect(screen.queryByTestId("agent-upgrade")).toBeNull();
    expect(screen.getByText("agent 0.2.0")).toBeTruthy();
    // The event stream starts again, with the new agent.
    await waitFor(() => expect(b.openStreams("events")).toHaveLength(1));
    expect(events.closed).toBe(true);
    expect(b.stream("events")).not.toBe(events);

    await click("upgrade-close");
    expect(screen.queryByTestId("upgrade-dialog")).toBeNull();
    expect(b.callsOf("upgradeServer")).toEqual([["prod"]]);
  });

  it("shows a failed upgrade with its message, the old agent still there", async () => {
    const b = await openSettings("0.1.0", "0.2.0");
    await click("agent-upgrade");
    await click("upgrade-confirm");
    const run = b.upgrade();
    run.step("the server has this image already");
    run.step("image appos/agent:0.2.0 is on the server; replacing appos/agent:0.1.0");
    run.step("the new agent did not become healthy; going back to appos/agent:0.1.0 (sha256:1f2e)");
    const message =
      "appos/agent:0.2.0 did not become healthy (the agent did not become healthy within 90 s: exec format error); the server runs its previous agent again (ok 0.1.0)";
    await run.end(uiError("other", message));

    const alert = byId("upgrade-error");
    expect(alert.dataset.code).toBe("other");
    expect(within(alert).getByText("Something went wrong")).toBeTruthy();
    expect(within(alert).getByText(message)).toBeTruthy();
    expect(stepTexts().map(([, state]) => state)).toEqual(["done", "done", "failed"]);
    expect(screen.queryByTestId("upgrade-done")).toBeNull();
    expect(screen.queryByTestId("upgrade-confirm")).toBeNull();
    expect(text("agent-version")).toBe("AppOS agent 0.1.0");

    await click("upgrade-close");
    expect(screen.queryByTestId("upgrade-dialog")).toBeNull();
    expect(text("agent-upgrade")).toBe("Upgrade to 0.2.0");

    // Asked again, it starts from the confirmation.
    await click("agent-upgrade");
    expect(text("upgrade-confirm")).toBe("Upgrade to 0.2.0");
    expect(screen.queryByTestId("upgrade-steps")).toBeNull();
    expect(screen.queryByTestId("upgrade-error")).toBeNull();
  });
});
