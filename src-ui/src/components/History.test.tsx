import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { AppVersion } from "../api/types.gen";
import { access, app, deployment, FakeBackend, need, uiError } from "../test/fakeBackend";
import { byId, renderServer } from "../test/render";

afterEach(cleanup);

const v = (version: number, over: Partial<AppVersion> = {}): AppVersion => ({ version, author: "desktop", message: `change ${version}`, created_at: 1_700_000_000 + version, digests: {}, host_access: [], files: {}, ...over });
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

  describe("host access", () => {
    const media = access("read_only_bind", "web", "/srv/media");
    const priv = access("privileged", "web", "");

    it("shows what each version was granted", async () => {
      const b = setup();
      b.on("list_versions", [v(1, { host_access: [media, priv] }), v(2), v(3, { host_access: [media] })]);
      await screen.findByTestId("version-row-3");
      const one = byId("version-access-1");
      expect(within(one).getAllByTestId("host-access-item").map((e) => e.querySelector("p")?.textContent)).toEqual([
        "web can read /srv/media on the server",
        "web runs privileged: it can do anything root can on the server",
      ]);
      expect(within(one).getAllByTestId("host-access-root")).toHaveLength(1);
      expect(byId("version-access-3").textContent).toContain("web can read /srv/media on the server");
      expect(screen.queryByTestId("version-access-2")).toBeNull();
    });

    it("checks the version rolled back to, asks, and grants exactly what it needs anew", async () => {
      const b = setup();
      b.on("check_compose", { services: { web: "nginx:1.25" }, host_access: [need(media, true), need(priv)] });
      b.on("rollback_app", { app: "blog", version: 4, deployment_id: "d-rb" });
      await screen.findByTestId("version-row-3");
      fireEvent.click(byId("version-rollback-1"));
      await act(async () => fireEvent.click(byId("rollback-confirm")));
      const dialog = await screen.findByTestId("host-access-dialog");
      expect(screen.queryByTestId("rollback-dialog")).toBeNull();
      expect(b.callsOf("check_compose")).toEqual([["local", { name: "blog", compose: composes[1], catalog: null, files: null, env: null }]]);
      expect(within(dialog).getAllByTestId("host-access-item").map((e) => e.querySelector("p")?.textContent)).toEqual([
        "web runs privileged: it can do anything root can on the server",
      ]);
      expect(within(dialog).getByTestId("host-access-root")).toBeTruthy();
      expect(b.callsOf("rollback_app")).toHaveLength(0);
      await act(async () => fireEvent.click(byId("host-access-allow")));
      expect(b.callsOf("rollback_app")).toEqual([["local", { app: "blog", request: { version: 1, pin_digests: false, allow_host_access: [priv] } }]]);
      await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-rb"));
    });

    it("rolls back nothing when the consent is cancelled", async () => {
      const b = setup();
      b.on("check_compose", { services: { web: "nginx:1.25" }, host_access: [need(priv)] });
      b.on("rollback_app", { app: "blog", version: 4, deployment_id: "d-rb" });
      await screen.findByTestId("version-row-3");
      fireEvent.click(byId("version-rollback-1"));
      await act(async () => fireEvent.click(byId("rollback-confirm")));
      await screen.findByTestId("host-access-dialog");
      await act(async () => fireEvent.click(byId("host-access-cancel")));
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
      expect(screen.queryByTestId("rollback-dialog")).toBeNull();
      expect(b.callsOf("rollback_app")).toHaveLength(0);
      expect(byId("history")).toBeTruthy();
    });
  });
});
