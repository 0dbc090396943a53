import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { LocalProject } from "../api/desktop.gen";
import type { DeployRequest } from "../api/types.gen";
import { access, deployment, FakeBackend, need, uiError } from "../test/fakeBackend";
import { byId, renderServer } from "../test/render";
import { appNameFrom, folderName } from "./DeployFolder";

afterEach(cleanup);

const PATH = "~/projects/My_Blog";
const compose = "services:\n  web:\n    image: nginx:1.27\n    volumes:\n      - ./nginx/site.conf:/etc/nginx/conf.d/default.conf:ro\n  db:\n    image: postgres:16\n    env_file: db.env\n";
const b64 = (s: string) => btoa(s);
const project: LocalProject = {
  compose_path: "/home/me/projects/My_Blog/compose.yaml",
  compose,
  files: [
    { path: "nginx/site.conf", content: b64("x".repeat(2000)), executable: false },
    { path: "db.env", content: b64("POSTGRES_DB=blog\n"), executable: false },
    { path: "bin/init.sh", content: b64("#!/bin/sh\necho hi\n"), executable: true },
  ],
  env: { DB_PASSWORD: "hunter2-very-secret", SITE_TITLE: "Ada's blog" },
};
const checked = { services: { web: "nginx:1.27", db: "postgres:16" }, host_access: [] };

function setup(p: LocalProject | ReturnType<typeof uiError> = project) {
  const b = new FakeBackend();
  b.projects[PATH] = p;
  b.on("check_compose", checked);
  return b;
}

async function openDialog(b: FakeBackend) {
  renderServer(b);
  fireEvent.click(await screen.findByTestId("apps-deploy-folder"));
  return screen.findByTestId("deploy-folder-dialog");
}

async function readPath(path = PATH) {
  fireEvent.change(byId("deploy-folder-path"), { target: { value: path } });
  await act(async () => fireEvent.click(byId("deploy-folder-read")));
}

describe("Deploy a compose file from this computer", () => {
  it("names the app after the folder", () => {
    expect(folderName("~/projects/blog")).toBe("blog");
    expect(folderName("~/projects/blog/")).toBe("blog");
    expect(folderName("~/projects/blog/compose.yml")).toBe("blog");
    expect(folderName("C:\\Users\\me\\Site\\docker-compose.yaml")).toBe("Site");
    expect(folderName("~")).toBe("");
    expect(appNameFrom("My Blog.v2")).toBe("myblogv2");
    expect(appNameFrom("_Private-Site")).toBe("private-site");
    expect(appNameFrom("x".repeat(80))).toHaveLength(63);
  });

  it("shows the files, services and .env names read, never the .env's values", async () => {
    const b = setup();
    const dialog = await openDialog(b);
    fireEvent.change(byId("deploy-folder-path"), { target: { value: PATH } });
    // Prefilled from the folder's name as typed.
    expect((byId("deploy-folder-name") as HTMLInputElement).value).toBe("my_blog");
    expect((byId("deploy-folder-submit") as HTMLButtonElement).disabled).toBe(true);
    await act(async () => fireEvent.click(byId("deploy-folder-read")));

    expect(b.callsOf("readProject")).toEqual([[PATH]]);
    expect((await screen.findByTestId("deploy-folder-compose-path")).textContent).toBe("/home/me/projects/My_Blog/compose.yaml");
    const files = within(byId("deploy-folder-files")).getAllByTestId("deploy-folder-file");
    expect(files.map((f) => f.dataset.path)).toEqual(["nginx/site.conf", "db.env", "bin/init.sh"]);
    expect(files[0].textContent).toContain("2.0 KB");
    expect(files[2].textContent).toContain("executable");
    expect(files[0].textContent).not.toContain("executable");
    // 2000 + 17 + 18 bytes, from the base64 lengths.
    expect(byId("deploy-folder-files-total").textContent).toBe("3 files, 2.0 KB");
    expect(screen.getAllByTestId("deploy-folder-env-key").map((e) => e.textContent)).toEqual(["DB_PASSWORD", "SITE_TITLE"]);
    expect(dialog.textContent).not.toContain("hunter2-very-secret");
    expect(dialog.textContent).not.toContain("Ada's blog");
    expect(document.body.innerHTML).not.toContain("hunter2");

    // The agent's check, with everything that would be sent.
    await waitFor(() => expect(screen.getByTestId("deploy-folder-service-web").textContent).toContain("nginx:1.27"));
    expect(byId("deploy-folder-service-db").textContent).toContain("postgres:16");
    expect(b.callsOf("check_compose")).toEqual([["local", { name: "my_blog", compose, catalog: null, files: project.files, env: project.env }]]);
    expect(screen.queryByTestId("deploy-folder-host-access")).toBeNull();
    expect((byId("deploy-folder-submit") as HTMLButtonElement).disabled).toBe(false);
  });

  it("shows why the project could not be read, and offers no deploy", async () => {
    const b = setup(uiError("invalid_input", "./web.env (services.web.env_file) does not exist in /home/me/projects/My_Blog"));
    await openDialog(b);
    await readPath();
    const err = await screen.findByTestId("deploy-folder-read-error");
    expect(err.textContent).toContain("Could not read the project");
    expect(err.textContent).toContain("./web.env (services.web.env_file) does not exist in /home/me/projects/My_Blog");
    expect(screen.queryByTestId("deploy-folder-project")).toBeNull();
    expect((byId("deploy-folder-submit") as HTMLButtonElement).disabled).toBe(true);
    expect(b.callsOf("check_compose")).toHaveLength(0);

    // Another path: the error goes, and that one is read.
    b.projects["~/site"] = { ...project, compose_path: "/home/me/site/compose.yaml" };
    await readPath("~/site");
    expect(screen.queryByTestId("deploy-folder-read-error")).toBeNull();
    expect((await screen.findByTestId("deploy-folder-compose-path")).textContent).toBe("/home/me/site/compose.yaml");
    expect((byId("deploy-folder-name") as HTMLInputElement).value).toBe("site");
  });

  it("lists the server's objections with their fields", async () => {
    const b = setup();
    b.on("check_compose", uiError("invalid_input", "invalid input", [{ field: "services.web.volumes[0]", message: "./nginx/missing.conf is not among the files sent" }]));
    await openDialog(b);
    await readPath();
    const err = await screen.findByTestId("deploy-folder-check-error");
    expect(err.textContent).toContain("services.web.volumes[0]");
    expect(err.textContent).toContain("./nginx/missing.conf is not among the files sent");
  });

  it("reads when the path field is left or Enter is pressed, once per path", async () => {
    const b = setup();
    await openDialog(b);
    const input = byId("deploy-folder-path");
    fireEvent.change(input, { target: { value: PATH } });
    await act(async () => fireEvent.blur(input));
    await screen.findByTestId("deploy-folder-compose-path");
    await act(async () => fireEvent.blur(input));
    expect(b.callsOf("readProject")).toHaveLength(1);
    await act(async () => fireEvent.keyDown(input, { key: "Enter" }));
    expect(b.callsOf("readProject")).toHaveLength(2);
  });

  it("keeps a name the user typed", async () => {
    const b = setup();
    await openDialog(b);
    fireEvent.change(byId("deploy-folder-name"), { target: { value: "Bad Name" } });
    expect(byId("deploy-folder-name-error").textContent).toContain("lowercase");
    fireEvent.change(byId("deploy-folder-name"), { target: { value: "journal" } });
    await readPath();
    await screen.findByTestId("deploy-folder-compose-path");
    expect((byId("deploy-folder-name") as HTMLInputElement).value).toBe("journal");
    await waitFor(() => expect(b.callsOf("check_compose")).toHaveLength(1));
    expect(b.callsOf("check_compose")[0][1].name).toBe("journal");
  });

  it("deploys exactly what was read, then shows the deployment", async () => {
    const b = setup();
    b.on("deploy_app", { deployment_id: "d-7", app: "my_blog", version: 1, generated: {} });
    b.on("get_deployment", deployment("d-7", { app: "my_blog", state: "queued" }));
    await openDialog(b);
    await readPath();
    await screen.findByTestId("deploy-folder-service-web");
    await act(async () => fireEvent.click(byId("deploy-folder-submit")));

    await waitFor(() => expect(b.callsOf("deploy_app")).toHaveLength(1));
    const [server, req]: [string, DeployRequest] = b.callsOf("deploy_app")[0];
    expect(server).toBe("local");
    expect(req).toEqual({ name: "my_blog", compose, catalog: null, files: project.files, env: project.env, message: null, allow_host_access: [] });
    expect(screen.queryByTestId("host-access-dialog")).toBeNull();
    await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-7"));
    expect(screen.queryByTestId("deploy-folder-dialog")).toBeNull();
  });

  it("shows the server's refusal of the deployment and stays open", async () => {
    const b = setup();
    b.on("deploy_app", uiError("invalid_input", "invalid input", [{ field: "name", message: "an app named my_blog exists" }]));
    await openDialog(b);
    await readPath();
    await screen.findByTestId("deploy-folder-service-web");
    await act(async () => fireEvent.click(byId("deploy-folder-submit")));
    const err = await screen.findByTestId("deploy-folder-deploy-error");
    expect(err.textContent).toContain("an app named my_blog exists");
    expect(byId("deploy-folder-dialog")).toBeTruthy();
  });

  describe("host access", () => {
    const sock = access("docker_socket", "web", "/var/run/docker.sock");

    it("asks before deploying, and sends nothing on Cancel", async () => {
      const b = setup();
      b.on("check_compose", { ...checked, host_access: [need(sock)] });
      b.on("deploy_app", { deployment_id: "d-8", app: "my_blog", version: 1, generated: {} });
      b.on("get_deployment", deployment("d-8", { app: "my_blog", state: "queued" }));
      await openDialog(b);
      await readPath();
      // Shown before deploying, in the agent's words.
      expect((await screen.findByTestId("deploy-folder-host-access")).textContent).toContain("web controls Docker through /var/run/docker.sock");

      await act(async () => fireEvent.click(byId("deploy-folder-submit")));
      const dialog = await screen.findByTestId("host-access-dialog");
      expect(dialog.textContent).toContain("my_blog");
      await act(async () => fireEvent.click(byId("host-access-cancel")));
      expect(screen.queryByTestId("host-access-dialog")).toBeNull();
      expect(b.callsOf("deploy_app")).toHaveLength(0);
      expect(byId("deploy-folder-dialog")).toBeTruthy();
      expect((byId("deploy-folder-submit") as HTMLButtonElement).disabled).toBe(false);

      // Allowed: exactly that is granted.
      await act(async () => fireEvent.click(byId("deploy-folder-submit")));
      await screen.findByTestId("host-access-dialog");
      await act(async () => fireEvent.click(byId("host-access-allow")));
      await waitFor(() => expect(b.callsOf("deploy_app")).toHaveLength(1));
      expect(b.callsOf("deploy_app")[0][1].allow_host_access).toEqual([sock]);
      expect(b.callsOf("deploy_app")[0][1].files).toEqual(project.files);
      await waitFor(() => expect(byId("deployment-view").dataset.id).toBe("d-8"));
    });
  });
});
