import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { TokenInfo } from "../api/calls.gen";
import { FakeBackend, uiError } from "../test/fakeBackend";
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
