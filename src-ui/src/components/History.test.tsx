import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { AppVersion } from "../api/types.gen";
import { app, deployment, FakeBackend, uiError } from "../test/fakeBackend";
import { byId, renderServer } from "../test/render";

afterEach(cleanup);

const v = (version: number, over: Partial<AppVersion> = {}): AppVersion => ({ version, author: "desktop", message: `change ${version}`, created_at: 1_700_000_000 + version, digests: {}, host_access: [], ...over });
const composes: Record<number, string> = {
  1: "services:\n  web:\n    image: nginx:1.25\n",
  2: "services:\n  web:\n    image: nginx:1.26\n    restart: always\n",
  3: "services:\n  web:\n    image: nginx:1.27\n    restart: always\n",
};

function setup() {
  const b = new FakeBackend();
  b.on("get_app", app("blog"));
  b.on("list_versions", [v(1, { digests: { web: "sha256:aaa" } }), v(2), v(3, { digests: { web: "sha256:ccc" } })]);
  b.on("get_version", ({ version: n }) => ({ version: v(n), compose: composes[n], env_keys: [] }));
  b.on("get_deployment", deployment("d-rb", { state: "queued" }));
  b.on("check_compose", { services: { web: "nginx" }, host_access: [] });
  renderServer(b, { view: "app", app: "blog", tab: "history" });
  return b;
}

const kinds = (kind: string) => [...byId("diff-view").querySelectorAll(`[data-kind="${kind}"]`)].map((e) => e.textContent);

describe("History", () => {
  it("lists versions newest first and diffs the previous against the newest", async () => {
    const b = setup();
    const rows = await screen.findAllByTestId(/^version-row-/);
    expect(rows.map((r) => r.dataset.testid)).toEqual(["version-row-3", "version-row-2", "version-row-1"]);
    expect(rows[0].textContent).toContain("change 3");
    expect(rows[0].textContent).toContain("desktop");
    expect((byId("diff-from") as HTMLSelectElement).value).toBe("2");
    expect((byId("diff-to") as HTMLSelectElement).value).toBe("3");
    await screen.findByTestId("diff-view");
    await waitFor(() => expect(kinds("removed")).toEqual(["    image: nginx:1.26"]));
    expect(kinds("added")).toEqual(["    image: nginx:1.27"]);
    expect(kinds("same")).toContain("    restart: always");

    fireEvent.change(byId("diff-from"), { target: { value: "1" } });
    await waitFor(() => expect(kinds("removed")).toEqual(["    image: nginx:1.25"]));
    expect(kinds("added")).toEqual(["    image: nginx:1.27", "    restart: always"]);
    expect(b.callsOf("get_version").map(([, a]) => a.version).sort()).toEqual([1, 2, 3]);
  });

  it("rolls back pinned to the recorded digests", async () => {
    const b = setup();
    b.on("rollback_app", { app: "blog", version: 4, deployment_id: "d-rb" });
    await screen.findByTestId("version-row-3");
    expect(screen.queryByTestId("version-rollback-3")).toBeNull(); // the newest
    fireEvent.click(byId("version-rollback-1"));
    const pin = byId("rollback-pin") as HTMLInputElement;
    expect(pin.disabled).toBe(false);
    fireEvent.click(pin);
    await act(async () => fireEvent.click(byId("rollback-confirm")));
    expect(b.callsOf("rollback_app")).toEqual([["local", { app: "blog", request: { version: 1, pin_digests: true, allow_host_access: [] } }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-rb"));
  });

  it("cannot pin a version that never ran, and shows a failed rollback in the dialog", async () => {
    const b = setup();
    b.on("rollback_app", uiError("other", "the agent is busy"));
    await screen.findByTestId("version-row-2");
    fireEvent.click(byId("version-rollback-2"));
    expect((byId("rollback-pin") as HTMLInputElement).disabled).toBe(true);
    await act(async () => fireEvent.click(byId("rollback-confirm")));
    expect(b.callsOf("rollback_app")).toEqual([["local", { app: "blog", request: { version: 2, pin_digests: false, allow_host_access: [] } }]]);
    expect((await screen.findByTestId("rollback-error")).textContent).toContain("the agent is busy");
  });
});
