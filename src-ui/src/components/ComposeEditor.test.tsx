import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { AppVersion } from "../api/types.gen";
import { access, app, deployment, FakeBackend, need, uiError } from "../test/fakeBackend";
import { byId, renderServer } from "../test/render";
import { editorViewIn } from "./CodeEditor";

afterEach(cleanup);

const v = (version: number, over: Partial<AppVersion> = {}): AppVersion => ({ version, author: "desktop", message: `v${version}`, created_at: 1_700_000_000 + version, digests: {}, host_access: [], files: {}, ...over });
const compose1 = "services:\n  web:\n    image: nginx:1.26\n";
const compose2 = "services:\n  web:\n    image: nginx:1.27\n  db:\n    image: postgres:16\n";

function setup() {
  const b = new FakeBackend();
  b.on("get_app", app("blog"));
  b.on("list_versions", [v(1), v(2)]);
  b.on("get_version", ({ version: n }) => ({ version: v(n), compose: n === 1 ? compose1 : compose2, env_keys: ["DB_PASSWORD"] }));
  b.on("check_compose", { services: { web: "nginx:1.28", db: "postgres:16" }, host_access: [] });
  b.on("get_deployment", deployment("d-save", { state: "queued" }));
  return b;
}

async function openEditor(b: FakeBackend) {
  renderServer(b, { view: "app", app: "blog", tab: "compose" });
  const host = await screen.findByTestId("compose-editor");
  await waitFor(() => expect(host.querySelector(".cm-content")?.textContent).toContain("postgres:16"));
  return host;
}

function type(host: HTMLElement, text: string) {
  const view = editorViewIn(host)!;
  act(() => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }));
}

describe("Compose editor", () => {
  it("loads the newest version into CodeMirror", async () => {
    const b = setup();
    const host = await openEditor(b);
    expect(b.callsOf("get_version")).toEqual([["local", { app: "blog", version: 2 }]]);
    expect(host.querySelector(".cm-editor")).toBeTruthy();
    expect(editorViewIn(host)!.state.doc.toString()).toBe(compose2);
    expect((byId("compose-save") as HTMLButtonElement).disabled).toBe(true); // nothing changed
    expect((byId("compose-deploy") as HTMLInputElement).checked).toBe(true);
  });

  it("shows YAML syntax errors at once and refuses to save them", async () => {
    const b = setup();
    const host = await openEditor(b);
    type(host, "services:\n  web:\n    image: nginx\n   ports: [1\n");
    const errs = await screen.findByTestId("compose-syntax-errors");
    expect(errs.textContent).toMatch(/line 4, column \d+/);
    expect((byId("compose-save") as HTMLButtonElement).disabled).toBe(true);
    await new Promise((r) => setTimeout(r, 700));
    expect(b.callsOf("check_compose")).toHaveLength(0);
  });

  it("shows the agent's check: field errors, then valid", async () => {
    const b = setup();
    b.on("check_compose", uiError("invalid_input", "invalid input", [{ field: "services.web.image", message: "image nginx:nope not found" }]), {
      services: { web: "nginx:1.28", db: "postgres:16" },
      host_access: [],
    });
    const host = await openEditor(b);
    type(host, compose2.replace("nginx:1.27", "nginx:nope"));
    const errs = await screen.findByTestId("compose-errors", {}, { timeout: 2000 });
    expect(errs.textContent).toContain("services.web.image");
    expect(errs.textContent).toContain("image nginx:nope not found");
    expect(b.callsOf("check_compose")[0]).toEqual(["local", { name: "blog", compose: compose2.replace("nginx:1.27", "nginx:nope"), catalog: null, files: null, env: null }]);

    type(host, compose2.replace("nginx:1.27", "nginx:1.28"));
    expect((await screen.findByTestId("compose-valid", {}, { timeout: 2000 })).textContent).toContain("Valid: 2 services");
    expect(screen.queryByTestId("compose-errors")).toBeNull();
  });

  it("saves with the message and the deploy choice, then opens the deployment", async () => {
    const b = setup();
    b.on("save_version", { app: "blog", version: 3, deployment_id: "d-save" });
    const host = await openEditor(b);
    const next = compose2.replace("nginx:1.27", "nginx:1.28");
    type(host, next);
    expect(byId("compose-dirty")).toBeTruthy();
    fireEvent.change(byId("compose-message"), { target: { value: "nginx 1.28" } });
    const save = byId("compose-save") as HTMLButtonElement;
    expect(save.disabled).toBe(false);
    await act(async () => fireEvent.click(save));
    expect(b.callsOf("save_version")).toEqual([["local", { app: "blog", request: { compose: next, files: null, env: null, message: "nginx 1.28", deploy: true, allow_host_access: [] } }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-save"));
  });

  it("saves without deploying, and shows the agent's refusal like a check", async () => {
    const b = setup();
    b.on("save_version", uiError("invalid_input", "invalid input", [{ field: "services.web.volumes[0]", message: "bind mount outside the app directory" }]), {
      app: "blog",
      version: 3,
      deployment_id: null,
    });
    const host = await openEditor(b);
    const text = compose2 + "    volumes: [/etc:/etc]\n";
    type(host, text);
    fireEvent.click(byId("compose-deploy"));
    await act(async () => fireEvent.click(byId("compose-save")));
    expect(b.callsOf("save_version")[0][1].request).toMatchObject({ deploy: false, message: null });
    expect((await screen.findByTestId("compose-errors")).textContent).toContain("bind mount outside the app directory");

    b.on("list_versions", [v(1), v(2), v(3)]);
    b.on("get_version", ({ version: n }) => ({ version: v(n), compose: n === 3 ? text : compose2, env_keys: [] }));
    await act(async () => fireEvent.click(byId("compose-save")));
    expect((await screen.findByTestId("compose-saved")).textContent).toContain("Saved version 3");
    expect(screen.getByTestId("compose-tab")).toBeTruthy();
  });

  it("keeps an unsaved draft when switching tabs", async () => {
    const b = setup();
    b.on("list_deployments", []);
    const host = await openEditor(b);
    type(host, compose2 + "# draft\n");
    fireEvent.click(byId("tab-deployments"));
    await screen.findByText("No deployments yet");
    fireEvent.click(byId("tab-compose"));
    const again = await screen.findByTestId("compose-editor");
    await waitFor(() => expect(editorViewIn(again)?.state.doc.toString()).toBe(compose2 + "# draft\n"));
    expect(byId("compose-dirty")).toBeTruthy();
  });

  describe("host access", () => {
    const held = access("bind", "web", "/srv/www");
    const sock = access("docker_socket", "web", "/var/run/docker.sock");
    const tun = access("device", "web", "/dev/net/tun");
    const text = compose2 + "    volumes: [/srv/www:/usr/share/nginx/html, /var/run/docker.sock:/var/run/docker.sock]\n    devices: [/dev/net/tun]\n";

    async function saveNeeding(b: FakeBackend, deploy: boolean) {
      b.on("check_compose", { services: { web: "nginx:1.27", db: "postgres:16" }, host_access: [need(held, true), need(sock), need(tun)] });
      const host = await openEditor(b);
      type(host, text);
      // The check already says what saving will ask for.
      const panel = await screen.findByTestId("compose-host-access", {}, { timeout: 2000 });
      expect(panel.textContent).toContain("web can use the server's device /dev/net/tun");
      expect(panel.textContent).not.toContain("/srv/www");
      if (!deploy) fireEvent.click(byId("compose-deploy"));
      await act(async () => fireEvent.click(byId("compose-save")));
      return screen.findByTestId("host-access-dialog");
    }

    it("asks for what the version does not hold yet, and sends exactly that", async () => {
      const b = setup();
      b.on("save_version", { app: "blog", version: 3, deployment_id: null });
      const dialog = await saveNeeding(b, false);
      expect(dialog.textContent).toContain("This app needs access to the server");
      expect(within(dialog).getAllByTestId("host-access-item").map((e) => e.querySelector("p")?.textContent)).toEqual([
        "web controls Docker through /var/run/docker.sock, which is root on the server",
        "web can use the server's device /dev/net/tun",
      ]);
      expect(within(dialog).getAllByTestId("host-access-root")).toHaveLength(1);
      expect(b.callsOf("save_version")).toHaveLength(0);
      expect(byId("host-access-allow").textContent).toBe("Allow and save");

      await act(async () => fireEvent.click(byId("host-access-allow")));
      expect(b.callsOf("save_version")).toEqual([["local", { app: "blog", request: { compose: text, files: null, env: null, message: null, deploy: false, allow_host_access: [sock, tun] } }]]);
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
      // The check right before saving was of the very text saved.
      expect(b.callsOf("check_compose").at(-1)).toEqual(["local", { name: "blog", compose: text, catalog: null, files: null, env: null }]);
    });

    it("sends nothing when cancelled, and keeps the draft", async () => {
      const b = setup();
      b.on("save_version", { app: "blog", version: 3, deployment_id: "d-save" });
      await saveNeeding(b, true);
      expect(byId("host-access-allow").textContent).toBe("Allow and deploy");
      await act(async () => fireEvent.click(byId("host-access-cancel")));
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
      expect(b.callsOf("save_version")).toHaveLength(0);
      expect(byId("compose-dirty")).toBeTruthy();
      expect((byId("compose-save") as HTMLButtonElement).disabled).toBe(false);
    });

    it("saves without asking when the app already holds all it needs", async () => {
      const b = setup();
      b.on("check_compose", { services: { web: "nginx:1.27", db: "postgres:16" }, host_access: [need(held, true)] });
      b.on("save_version", { app: "blog", version: 3, deployment_id: "d-save" });
      const host = await openEditor(b);
      type(host, compose2 + "    volumes: [/srv/www:/usr/share/nginx/html]\n");
      await act(async () => fireEvent.click(byId("compose-save")));
      await waitFor(() => expect(b.callsOf("save_version")).toHaveLength(1));
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
      expect(b.callsOf("save_version")[0][1].request.allow_host_access).toEqual([]);
      await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-save"));
    });
  });
});
