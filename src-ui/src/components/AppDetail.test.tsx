import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { app, deployment, FakeBackend, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

afterEach(cleanup);

function setup(managed = true) {
  const b = new FakeBackend();
  b.apps.local = [app("blog", { managed })];
  b.on("get_app", app("blog", { managed }));
  b.on("get_deployment", ({ id }) => deployment(id, { state: "queued" }));
  return b;
}

async function click(testId: string) {
  const el = await screen.findByTestId(testId);
  await act(async () => fireEvent.click(el));
}

describe("App detail", () => {
  it("shows services, containers, ports and files", async () => {
    const b = setup();
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await waitFor(() => expect(byId("app-state").textContent).toBe("running"));
    expect(byId("app-title").textContent).toBe("blog");
    expect(byId("container-blog-web-1").textContent).toContain("nginx:1.27");
    expect(byId("container-blog-db-1").textContent).toContain("Up 5 minutes (healthy)");
    expect(byId("app-ports").textContent).toContain("0.0.0.0:8080→80/tcp");
    expect(byId("app-working-dir").textContent).toBe("/var/lib/appos/apps/blog");
    for (const t of ["tab-overview", "tab-logs", "tab-compose", "tab-history", "tab-deployments"]) expect(byId(t)).toBeTruthy();
  });

  it("follows container events of this app", async () => {
    const b = setup();
    b.on("get_app", app("blog"), app("blog", { state: "stopped" }));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    const events = await connected(b);
    await waitFor(() => expect(byId("app-state").textContent).toBe("running"));
    events.event("container", "blog", { action: "stop" });
    await waitFor(() => expect(byId("app-state").textContent).toBe("stopped"));
  });

  it("runs an action and opens its deployment", async () => {
    const b = setup();
    b.on("run_app_action", deployment("d-restart", { operation: "restart", state: "queued" }));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-restart");
    expect(b.callsOf("run_app_action")).toEqual([["local", { app: "blog", action: "restart" }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-restart"));
    // Back returns to the app.
    fireEvent.click(byId("nav-back"));
    expect(await screen.findByTestId("app-detail")).toBeTruthy();
  });

  it("redeploys through a new version's deployment", async () => {
    const b = setup();
    b.on("redeploy_app", { app: "blog", version: 3, deployment_id: "d-redeploy" });
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-redeploy");
    expect(b.callsOf("redeploy_app")).toEqual([["local", { app: "blog" }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-redeploy"));
  });

  it("asks before deleting, with the volumes choice", async () => {
    const b = setup();
    b.on("delete_app", deployment("d-del", { operation: "delete", state: "queued" }));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-delete");
    expect(b.callsOf("delete_app")).toHaveLength(0);
    const volumes = byId("delete-volumes") as HTMLInputElement;
    expect(volumes.checked).toBe(false);
    fireEvent.click(volumes);
    await click("delete-confirm");
    expect(b.callsOf("delete_app")).toEqual([["local", { app: "blog", volumes: true }]]);
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-del"));
  });

  it("shows a failed action next to the actions", async () => {
    const b = setup();
    b.on("run_app_action", uiError("docker_unavailable", "Docker is not reachable"));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await click("action-stop");
    const err = await screen.findByTestId("action-error");
    expect(err.textContent).toContain("Could not stop blog");
    expect(err.textContent).toContain("Docker is not reachable");
    expect(screen.getByTestId("app-detail")).toBeTruthy();
  });

  it("offers no actions, versions or compose for an app created outside AppOS", async () => {
    const b = setup(false);
    renderServer(b, { view: "app", app: "blog", tab: "compose" });
    expect(await screen.findByTestId("app-unmanaged-note")).toBeTruthy();
    expect(screen.queryByTestId("action-start")).toBeNull();
    expect(screen.queryByTestId("action-delete")).toBeNull();
    expect(screen.queryByTestId("tab-compose")).toBeNull();
    expect(screen.queryByTestId("tab-history")).toBeNull();
    expect(byId("tab-logs")).toBeTruthy();
    expect(byId("app-overview")).toBeTruthy();
    expect(b.callsOf("list_versions")).toHaveLength(0);
  });
});
