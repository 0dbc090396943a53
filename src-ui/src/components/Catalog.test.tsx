import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CatalogEntry, DeployRequest } from "../api/types.gen";
import { access, deployment, FakeBackend, need, uiError } from "../test/fakeBackend";
import { byId, renderServer } from "../test/render";

afterEach(cleanup);

const ghost: CatalogEntry = {
  id: "ghost",
  name: "Ghost",
  description: "A blogging platform for publishers",
  category: "cms",
  website: "https://ghost.org",
  logo: "",
  params: [
    { key: "HTTP_PORT", label: "HTTP port", type: "port", description: "Port on the server", default: "8080", required: true, generate: null },
    { key: "DOMAIN", label: "Domain", type: "domain", description: "", default: null, required: false, generate: null },
    { key: "DB_PASSWORD", label: "Database password", type: "password", description: "", default: null, required: true, generate: 32 },
    { key: "ADMIN_EMAIL", label: "Admin e-mail", type: "string", description: "", default: null, required: true, generate: null },
    { key: "WORKERS", label: "Workers", type: "int", description: "", default: "2", required: false, generate: null },
    { key: "SIGNUP", label: "Allow sign-up", type: "bool", description: "", default: "true", required: false, generate: null },
  ],
  host_access: [],
  host_access_grew: false,
};
const redis: CatalogEntry = { id: "redis", name: "Redis", description: "In-memory data store", category: "database", website: "", logo: "https://x/redis.png", params: [], host_access: [], host_access_grew: false };
const uptime: CatalogEntry = { id: "uptime-kuma", name: "Uptime Kuma", description: "Monitoring dashboard", category: "monitoring", website: "", logo: "", params: [], host_access: [], host_access_grew: false };

function setup() {
  const b = new FakeBackend();
  b.on("list_catalog", [ghost, redis, uptime]);
  b.on("check_compose", { services: { web: "ghost:5" }, host_access: [] });
  return b;
}

async function openGhost(b: FakeBackend) {
  renderServer(b, { view: "catalog" });
  fireEvent.click(await screen.findByTestId("catalog-item-ghost"));
  return screen.findByTestId("install-form");
}

describe("Catalog", () => {
  it("filters by search text and category", async () => {
    const b = setup();
    renderServer(b, { view: "catalog" });
    await screen.findByTestId("catalog-item-ghost");
    expect(screen.getByTestId("catalog-item-redis").querySelector("img")?.getAttribute("src")).toBe("https://x/redis.png");
    expect(byId("catalog-item-ghost").textContent).toContain("G"); // initial instead of a logo

    fireEvent.change(byId("catalog-search"), { target: { value: "monitor" } });
    expect(screen.queryByTestId("catalog-item-ghost")).toBeNull();
    expect(screen.getByTestId("catalog-item-uptime-kuma")).toBeTruthy();

    fireEvent.change(byId("catalog-search"), { target: { value: "" } });
    fireEvent.click(byId("catalog-category-database"));
    expect(screen.getAllByTestId(/^catalog-item-/).map((e) => e.dataset.testid)).toEqual(["catalog-item-redis"]);
    fireEvent.click(byId("catalog-category-all"));
    expect(screen.getAllByTestId(/^catalog-item-/)).toHaveLength(3);
    expect(b.callsOf("list_catalog")).toEqual([["local", { search: null }]]);
  });

  it("shows a failed catalog load with a retry", async () => {
    const b = new FakeBackend();
    b.on("list_catalog", uiError("unreachable", "connection reset"), [redis]);
    renderServer(b, { view: "catalog" });
    const err = await screen.findByTestId("catalog-error");
    expect(err.textContent).toContain("connection reset");
    fireEvent.click(within(err).getByText("Retry"));
    expect(await screen.findByTestId("catalog-item-redis")).toBeTruthy();
  });

  it("generates an input per parameter type", async () => {
    const b = setup();
    await openGhost(b);
    expect(byId("template-description").textContent).toContain("blogging platform");
    expect(byId("template-website").getAttribute("href")).toBe("https://ghost.org");
    // Opened in the system browser, not in the app's webview.
    fireEvent.click(byId("template-website"));
    await waitFor(() => expect(b.callsOf("openUrl")).toEqual([["https://ghost.org"]]));
    expect((byId("install-name") as HTMLInputElement).value).toBe("ghost");

    const port = byId("param-HTTP_PORT") as HTMLInputElement;
    expect(port.type).toBe("number");
    expect(port.value).toBe("8080");
    expect((byId("param-WORKERS") as HTMLInputElement).type).toBe("number");
    const signup = byId("param-SIGNUP") as HTMLInputElement;
    expect(signup.type).toBe("checkbox");
    expect(signup.checked).toBe(true);
    const pw = byId("param-DB_PASSWORD") as HTMLInputElement;
    expect(pw.type).toBe("password");
    expect(pw.placeholder).toBe("leave empty to generate");
    fireEvent.click(byId("param-DB_PASSWORD-reveal"));
    expect(pw.type).toBe("text");
    expect((byId("param-DOMAIN") as HTMLInputElement).type).toBe("text");
  });

  it("checks the form before sending, and shows the agent's field errors next to the fields", async () => {
    const b = setup();
    b.on("deploy_app", uiError("invalid_input", "invalid input", [
      { field: "params.HTTP_PORT", message: "port 8080 is already used by blog" },
      { field: "services.web.image", message: "image ghost:9 not found" },
    ]));
    await openGhost(b);

    fireEvent.change(byId("install-name"), { target: { value: "My Blog" } });
    expect(byId("field-error-name").textContent).toContain("lowercase");
    await act(async () => fireEvent.click(byId("install-submit")));
    expect(byId("field-error-params.ADMIN_EMAIL").textContent).toBe("Required.");
    expect(screen.queryByTestId("field-error-params.DB_PASSWORD")).toBeNull(); // generated when empty
    expect(b.callsOf("deploy_app")).toHaveLength(0);

    fireEvent.change(byId("install-name"), { target: { value: "blog2" } });
    fireEvent.change(byId("param-ADMIN_EMAIL"), { target: { value: "me@example.com" } });
    fireEvent.click(byId("param-SIGNUP"));
    await act(async () => fireEvent.click(byId("install-submit")));
    await waitFor(() => expect(b.callsOf("deploy_app")).toHaveLength(1));
    const [server, req]: [string, DeployRequest] = b.callsOf("deploy_app")[0];
    expect(server).toBe("local");
    expect(req).toEqual({
      name: "blog2",
      compose: "",
      catalog: { id: "ghost", params: { HTTP_PORT: "8080", ADMIN_EMAIL: "me@example.com", WORKERS: "2", SIGNUP: "false" } },
      files: [],
      env: {},
      message: null,
      allow_host_access: [],
    });
    expect((await screen.findByTestId("field-error-params.HTTP_PORT")).textContent).toContain("already used by blog");
    const alert = byId("install-error");
    expect(alert.textContent).toContain("services.web.image");
    expect(alert.textContent).toContain("image ghost:9 not found");
    expect(alert.textContent).not.toContain("already used");
  });

  it("shows generated secrets once, with copy, then the deployment", async () => {
    const b = setup();
    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    b.on("deploy_app", { deployment_id: "d-1", app: "ghost", version: 1, generated: { DB_PASSWORD: "s3cr3t-generated" } });
    b.on("get_deployment", deployment("d-1", { app: "ghost", state: "queued" }));
    await openGhost(b);
    fireEvent.change(byId("param-ADMIN_EMAIL"), { target: { value: "me@example.com" } });
    await act(async () => fireEvent.click(byId("install-submit")));

    const panel = await screen.findByTestId("generated-secrets");
    expect(panel.textContent).toContain("shown only once");
    expect(byId("generated-DB_PASSWORD").textContent).toBe("s3cr3t-generated");
    await act(async () => fireEvent.click(byId("copy-DB_PASSWORD")));
    expect(writeText).toHaveBeenCalledWith("s3cr3t-generated");
    expect(byId("copy-DB_PASSWORD").textContent).toContain("Copied");
    expect(byId("deployment-view").dataset.id).toBe("d-1");
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("queued"));

    fireEvent.click(byId("secrets-dismiss"));
    expect(screen.queryByTestId("generated-secrets")).toBeNull();
    expect(screen.queryByText("s3cr3t-generated")).toBeNull();
    // Going back to the form and forward again does not bring them back.
    fireEvent.click(byId("nav-back"));
    expect(await screen.findByTestId("install-form")).toBeTruthy();
    expect((byId("param-ADMIN_EMAIL") as HTMLInputElement).value).toBe("");
  });

  describe("host access", () => {
    const sock = access("docker_socket", "portainer", "/var/run/docker.sock");
    const data = access("bind", "portainer", "/srv/portainer");
    const portainer: CatalogEntry = {
      id: "portainer",
      name: "Portainer",
      description: "Manage Docker from the browser",
      category: "tools",
      website: "",
      logo: "",
      params: [],
      host_access: [sock],
      host_access_grew: false,
    };
    const checked = { services: { portainer: "portainer/portainer-ce:2" }, host_access: [need(sock), need(data)] };

    async function openPortainer(b: FakeBackend) {
      b.on("list_catalog", [portainer, redis]);
      b.on("get_deployment", deployment("d-p", { app: "portainer", state: "queued" }));
      renderServer(b, { view: "catalog" });
      expect((await screen.findByTestId("catalog-access-portainer")).textContent).toContain("Needs server access");
      expect(screen.queryByTestId("catalog-access-redis")).toBeNull();
      fireEvent.click(byId("catalog-item-portainer"));
      return screen.findByTestId("install-form");
    }

    it("shows what the template needs before installing, then asks and grants exactly that", async () => {
      const b = new FakeBackend();
      b.on("check_compose", checked);
      b.on("deploy_app", { deployment_id: "d-p", app: "portainer", version: 1, generated: {} });
      await openPortainer(b);
      const preview = await screen.findByTestId("install-host-access");
      // The agent's check with the form's values, in its words.
      await waitFor(() => expect(preview.textContent).toContain("portainer can read and write /srv/portainer on the server"));
      expect(preview.textContent).toContain("portainer controls Docker through /var/run/docker.sock, which is root on the server");
      expect(b.callsOf("check_compose")[0]).toEqual(["local", { name: "portainer", compose: "", catalog: { id: "portainer", params: {} }, files: [], env: {} }]);

      await act(async () => fireEvent.click(byId("install-submit")));
      const dialog = await screen.findByTestId("host-access-dialog");
      expect(dialog.textContent).toContain("This app needs access to the server");
      expect(within(dialog).getAllByTestId("host-access-item").map((e) => e.querySelector("p")?.textContent)).toEqual([
        "portainer controls Docker through /var/run/docker.sock, which is root on the server",
        "portainer can read and write /srv/portainer on the server",
      ]);
      expect(within(dialog).getAllByTestId("host-access-root")).toHaveLength(1);
      expect(within(dialog).getByTestId("host-access-root").textContent).toContain("root on the server");
      expect(b.callsOf("deploy_app")).toHaveLength(0);

      expect(byId("host-access-allow").textContent).toBe("Allow and deploy");
      await act(async () => fireEvent.click(byId("host-access-allow")));
      await waitFor(() => expect(b.callsOf("deploy_app")).toHaveLength(1));
      expect(b.callsOf("deploy_app")[0][1]).toEqual({ name: "portainer", compose: "", catalog: { id: "portainer", params: {} }, files: [], env: {}, message: null, allow_host_access: [sock, data] });
      await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-p"));
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
    });

    it("shows the declared access while the form does not check, and sends nothing on Cancel", async () => {
      const b = new FakeBackend();
      b.on("check_compose", uiError("invalid_input", "invalid input", [{ field: "params.X", message: "Required." }]), checked);
      await openPortainer(b);
      const preview = await screen.findByTestId("install-host-access");
      expect(preview.textContent).toContain("portainer controls Docker through /var/run/docker.sock");
      expect(preview.textContent).not.toContain("/srv/portainer");

      await act(async () => fireEvent.click(byId("install-submit")));
      await screen.findByTestId("host-access-dialog");
      await act(async () => fireEvent.click(byId("host-access-cancel")));
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
      expect(b.callsOf("deploy_app")).toHaveLength(0);
      expect(byId("install-form")).toBeTruthy();
      expect((byId("install-submit") as HTMLButtonElement).disabled).toBe(false);
    });

    it("installs without asking when the template needs nothing", async () => {
      const b = setup();
      b.on("deploy_app", { deployment_id: "d-1", app: "ghost", version: 1, generated: {} });
      b.on("get_deployment", deployment("d-1", { app: "ghost", state: "queued" }));
      await openGhost(b);
      expect(screen.queryByTestId("install-host-access")).toBeNull();
      fireEvent.change(byId("param-ADMIN_EMAIL"), { target: { value: "me@example.com" } });
      await act(async () => fireEvent.click(byId("install-submit")));
      await waitFor(() => expect(b.callsOf("deploy_app")).toHaveLength(1));
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
      expect(b.callsOf("deploy_app")[0][1].allow_host_access).toEqual([]);
    });
  });
});
