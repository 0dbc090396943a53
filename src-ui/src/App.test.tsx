import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { App } from "./App";
import type { App as AppT } from "./api/types.gen";
import { domain, FakeBackend } from "./test/fakeBackend";

const blog: AppT = {
  name: "blog",
  state: "running",
  managed: false,
  working_dir: "/srv/blog",
  config_files: ["/srv/blog/compose.yml"],
  last_deployment: null,
  services: [
    {
      name: "web",
      containers: [
        { id: "1", name: "blog-web-1", image: "nginx", state: "running", status: "Up", ports: [{ private_port: 80, public_port: 8080, ip: "0.0.0.0", protocol: "tcp" }] },
      ],
    },
  ],
};

afterEach(cleanup);

function fill(testId: string, value: string) {
  fireEvent.change(screen.getByTestId(testId), { target: { value } });
}

describe("App", () => {
  it("opens this computer and shows an empty state", async () => {
    const b = new FakeBackend();
    render(<App backend={b} />);
    expect(await screen.findByText("No apps on this server yet")).toBeTruthy();
    expect(screen.getByTestId("server-title").textContent).toBe("This computer");
    await waitFor(() => expect(screen.getByTestId("server-status-local").dataset.status).toBe("connected"));
  });

  it("lists apps with their state, origin and ports", async () => {
    const b = new FakeBackend();
    b.apps.local = [blog];
    render(<App backend={b} />);
    const row = await screen.findByTestId("app-row-blog");
    expect(row.textContent).toContain("created outside AppOS");
    expect(screen.getByTestId("app-state-blog").textContent).toBe("running");
    expect(row.textContent).toContain("8080→80/tcp");
    expect(screen.getByTestId("server-via").textContent).toBe("via-local");
  });

  it("badges a server in the sidebar while its certificates need attention, as its Domains tab counts them", async () => {
    const b = new FakeBackend();
    b.servers.push({ name: "prod", url: "ssh://root@10.0.0.5:22", local: false, host_key: "SHA256:x", connected: false });
    b.apps.prod = [];
    const soon = { state: "expiring" as const, issuer: "R11", not_after: Math.floor(Date.now() / 1000) + 9 * 86400, days_left: 9 };
    b.on("list_domains", (_args, server) => (server === "prod" ? [domain("blog.example.com", { certificate: soon }), domain("shop.example.com")] : [domain("local.example.com")]));
    render(<App backend={b} />);
    const badge = await screen.findByTestId("server-certs-prod");
    expect(badge.textContent).toBe("1");
    expect(badge.dataset.tone).toBe("amber");
    expect(badge.title).toBe("Certificates: 1 expiring");
    expect(screen.getByTestId("nav-domains-alerts").textContent).toBe("1");
    const domainCalls = b.callsOf("list_domains").length;

    // Another server open: the badge stays, and nothing more is listed for it.
    fireEvent.click(screen.getByTestId("server-local"));
    await waitFor(() => expect(screen.getByTestId("server-title").textContent).toBe("This computer"));
    await waitFor(() => expect(b.callsOf("list_domains").length).toBe(domainCalls + 1));
    expect(screen.queryByTestId("server-certs-local")).toBeNull();
    expect(screen.getByTestId("server-certs-prod").textContent).toBe("1");
    expect(b.callsOf("list_domains").filter(([server]) => server === "prod")).toHaveLength(domainCalls);
  });

  it("shows a clear error with a hint when Docker is down", async () => {
    const b = new FakeBackend();
    b.apps.local = { code: "docker_unavailable", message: "Docker is not reachable: connection refused", host_key: null, fields: [] };
    render(<App backend={b} />);
    const panel = await screen.findByTestId("server-error");
    expect(panel.dataset.code).toBe("docker_unavailable");
    expect(panel.textContent).toContain("Start Docker on the server");
    expect(screen.getByTestId("server-status-local").dataset.status).toBe("error");
  });

  it("asks to trust a new host key, then adds the server with that exact fingerprint", async () => {
    const b = new FakeBackend();
    const fp = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    b.addAnswers = [
      () => ({ code: "host_key_unknown", message: "unknown", fields: [], host_key: { host: "[10.0.0.5]:2222", algorithm: "ssh-ed25519", fingerprint: fp } }),
      (f) => ({ name: f.name, url: "ssh://root@10.0.0.5:2222", local: false, host_key: fp, connected: false }),
    ];
    render(<App backend={b} />);
    fireEvent.click(await screen.findByTestId("add-server"));
    // The dialog's code loads when first opened.
    await screen.findByTestId("srv-name");
    fill("srv-name", "prod");
    fill("srv-host", "10.0.0.5");
    fill("srv-port", "2222");
    await act(async () => fireEvent.click(screen.getByTestId("add-server-submit")));
    expect((await screen.findByTestId("host-key-fingerprint")).textContent).toBe(fp);
    await act(async () => fireEvent.click(screen.getByTestId("host-key-accept")));
    await screen.findByTestId("server-prod");
    expect(b.added.map((f) => f.accept_fingerprint)).toEqual([null, fp]);
    expect(b.added[1]).toMatchObject({ name: "prod", host: "10.0.0.5", port: 2222, user: "root", identity: null });
    await waitFor(() => expect(screen.getByTestId("server-title").textContent).toBe("prod"));
  });

  it("blocks a changed host key and adds nothing", async () => {
    const b = new FakeBackend();
    b.addAnswers = [() => ({ code: "host_key_changed", message: "HOST KEY CHANGED: SHA256:new vs SHA256:old", host_key: null, fields: [] })];
    render(<App backend={b} />);
    fireEvent.click(await screen.findByTestId("add-server"));
    // The dialog's code loads when first opened.
    await screen.findByTestId("srv-name");
    fill("srv-name", "prod");
    fill("srv-host", "10.0.0.5");
    await act(async () => fireEvent.click(screen.getByTestId("add-server-submit")));
    const d = await screen.findByTestId("host-key-changed-dialog");
    expect(d.textContent).toContain("SHA256:old");
    expect(screen.queryByTestId("server-prod")).toBeNull();
  });

  it("refuses a bad port before calling the backend", async () => {
    const b = new FakeBackend();
    render(<App backend={b} />);
    fireEvent.click(await screen.findByTestId("add-server"));
    // The dialog's code loads when first opened.
    await screen.findByTestId("srv-name");
    fill("srv-name", "prod");
    fill("srv-host", "h");
    fill("srv-port", "70000");
    await act(async () => fireEvent.click(screen.getByTestId("add-server-submit")));
    expect((await screen.findByTestId("add-server-error")).textContent).toContain("1 to 65535");
    expect(b.added).toHaveLength(0);
  });

  it("asks for the key passphrase and sends it on the next try", async () => {
    const b = new FakeBackend();
    b.addAnswers = [
      () => ({ code: "key_encrypted", message: "the SSH key /k is encrypted: its passphrase is needed", host_key: null, fields: [] }),
      (f) => ({ name: f.name, url: "ssh://root@h:22", local: false, host_key: "SHA256:x", connected: false }),
    ];
    render(<App backend={b} />);
    fireEvent.click(await screen.findByTestId("add-server"));
    // The dialog's code loads when first opened.
    await screen.findByTestId("srv-name");
    fill("srv-name", "prod");
    fill("srv-host", "h");
    await act(async () => fireEvent.click(screen.getByTestId("add-server-submit")));
    expect((await screen.findByTestId("add-server-error")).textContent).toContain("Key passphrase needed");
    fill("srv-passphrase", "s3cret");
    await act(async () => fireEvent.click(screen.getByTestId("add-server-submit")));
    await screen.findByTestId("server-prod");
    expect(b.added.map((f) => f.passphrase)).toEqual([null, "s3cret"]);
  });

  it("installs AppOS on a server without the agent, then adds and selects it as after a normal add", async () => {
    const b = new FakeBackend();
    const checks = [
      { item: "system", ok: true, detail: "Linux x86_64" },
      { item: "docker", ok: true, detail: "Docker 27.3.1" },
    ];
    b.addAnswers = [() => ({ code: "agent_missing", message: "`appos-agent` was not found on root@h:22", host_key: null, fields: [] })];
    b.checkAnswers = [checks];
    b.installScripts = [
      {
        progress: [
          { type: "checked", checks },
          { type: "step", message: "the server has this image already" },
          { type: "step", message: "the agent answers (ok 0.1.0)" },
        ],
        end: { name: "prod", url: "ssh://root@h:22", local: false, host_key: "SHA256:x", connected: false },
      },
    ];
    render(<App backend={b} />);
    fireEvent.click(await screen.findByTestId("add-server"));
    // The dialog's code loads when first opened.
    await screen.findByTestId("srv-name");
    fill("srv-name", "prod");
    fill("srv-host", "h");
    await act(async () => fireEvent.click(screen.getByTestId("add-server-submit")));
    expect((await screen.findByTestId("agent-missing")).textContent).toContain("`appos-agent` was not found on root@h:22");
    await act(async () => fireEvent.click(screen.getByTestId("install-offer")));
    await screen.findByTestId("install-check-docker");
    await act(async () => fireEvent.click(screen.getByTestId("install-submit")));
    await screen.findByTestId("server-prod");
    await waitFor(() => expect(screen.getByTestId("server-title").textContent).toBe("prod"));
    expect(screen.queryByTestId("install-dialog")).toBeNull();
    expect(b.callsOf("installServer")).toHaveLength(1);
  });

  it("shows auth errors inline with a hint", async () => {
    const b = new FakeBackend();
    b.addAnswers = [() => ({ code: "auth_rejected", message: "root@h refused authentication (tried /k)", host_key: null, fields: [] })];
    render(<App backend={b} />);
    fireEvent.click(await screen.findByTestId("add-server"));
    // The dialog's code loads when first opened.
    await screen.findByTestId("srv-name");
    fill("srv-name", "prod");
    fill("srv-host", "h");
    await act(async () => fireEvent.click(screen.getByTestId("add-server-submit")));
    const e = await screen.findByTestId("add-server-error");
    expect(e.textContent).toContain("Authentication refused");
    expect(e.textContent).toContain("ssh-agent");
  });
});
