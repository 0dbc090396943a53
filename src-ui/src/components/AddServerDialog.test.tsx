import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { InstallCheck, InstallForm, ServerEntry } from "../api/desktop.gen";
import { FakeBackend, uiError } from "../test/fakeBackend";
import { byId } from "../test/render";
import { AddServerDialog } from "./AddServerDialog";

afterEach(cleanup);

const MB = 1024 * 1024;
const fp = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const missing = uiError(
  "agent_missing",
  "`appos-agent` was not found on root@10.0.0.5:22: install the AppOS agent there, or pass the command that runs it (--bootstrap-cmd)",
);
const passing: InstallCheck[] = [
  { item: "system", ok: true, detail: "Linux x86_64" },
  { item: "root", ok: true, detail: "logged in as root" },
  { item: "docker", ok: true, detail: "Docker 27.3.1" },
  { item: "disk", ok: true, detail: "38 GiB free for /var/lib/appos" },
  { item: "ports", ok: true, detail: "80 and 443 free for the reverse proxy" },
  { item: "appos", ok: true, detail: "not installed yet" },
];
const portsBusy: InstallCheck = { item: "ports", ok: false, detail: "port 80 already in use: stop what listens there, or install without the proxy" };
const withoutPorts = passing.filter((c) => c.item !== "ports");
const prod: ServerEntry = { name: "prod", url: "ssh://root@10.0.0.5:22", local: false, host_key: fp, connected: false };

const server = (over: Partial<InstallForm["server"]> = {}): InstallForm["server"] => ({
  name: "prod",
  host: "10.0.0.5",
  port: 22,
  user: "root",
  identity: null,
  agent_socket: null,
  bootstrap_cmd: null,
  accept_fingerprint: null,
  passphrase: null,
  ...over,
});

function fill(testId: string, value: string) {
  fireEvent.change(byId(testId), { target: { value } });
}

const click = (testId: string) => act(async () => fireEvent.click(byId(testId)));

function renderDialog(b: FakeBackend) {
  const onAdded = vi.fn();
  const onClose = vi.fn();
  render(<AddServerDialog backend={b} open onClose={onClose} onAdded={onAdded} />);
  return { onAdded, onClose };
}

/** Fills the form for prod and connects; the fake answers with `addAnswers`. */
async function connect() {
  fill("srv-name", "prod");
  fill("srv-host", "10.0.0.5");
  await click("add-server-submit");
}

/** A server without the agent: connects, then opens the install view. */
async function openInstall(b: FakeBackend, checks: InstallCheck[] = passing) {
  b.addAnswers = [() => missing];
  b.checkAnswers = [checks];
  const r = renderDialog(b);
  await connect();
  await click("install-offer");
  await screen.findByTestId("install-checklist");
  return r;
}

const rows = () => within(byId("install-checklist")).getAllByRole("listitem");
const stepTexts = () => within(byId("install-steps")).getAllByRole("listitem").map((li) => [li.textContent, li.dataset.state]);
const isDisabled = (testId: string) => (byId(testId) as HTMLButtonElement).disabled;

describe("Add server: installing AppOS", () => {
  it("offers to install AppOS when the server has no agent, with the agent's message", async () => {
    const b = new FakeBackend();
    b.addAnswers = [() => missing];
    renderDialog(b);
    await connect();
    const panel = await screen.findByTestId("agent-missing");
    expect(byId("agent-missing-message").textContent).toBe(missing.message);
    expect(panel.textContent).toContain("AppOS is not installed on this server");
    expect(byId("install-offer").textContent).toBe("Install AppOS on this server");
    expect(screen.queryByTestId("add-server-error")).toBeNull();
    expect(byId("add-server-dialog")).toBeTruthy();
    expect(b.callsOf("installCheck")).toHaveLength(0);
  });

  it("checks the server with the default options and lists each line of the checklist", async () => {
    const b = new FakeBackend();
    let release!: () => void;
    b.checkGate = new Promise((r) => (release = r));
    b.addAnswers = [() => missing];
    b.checkAnswers = [passing];
    renderDialog(b);
    await connect();
    await click("install-offer");

    const dialog = byId("install-dialog");
    expect(dialog.getAttribute("aria-label")).toBe("Install AppOS on prod");
    expect(within(dialog).getByRole("heading", { level: 2 }).textContent).toBe("Install AppOS on prod");
    expect(screen.queryByTestId("add-server-dialog")).toBeNull();
    expect((byId("install-data") as HTMLInputElement).value).toBe("/var/lib/appos");
    expect((byId("install-proxy") as HTMLInputElement).checked).toBe(true);
    expect((byId("install-http-port") as HTMLInputElement).value).toBe("80");
    expect((byId("install-https-port") as HTMLInputElement).value).toBe("443");
    expect(within(dialog).getByRole("status").textContent).toBe("Checking the server…");
    expect(isDisabled("install-submit")).toBe(true);
    expect(isDisabled("install-recheck")).toBe(true);

    await act(async () => release());
    await screen.findByTestId("install-checklist");
    expect(b.callsOf("installCheck")).toEqual([[{ server: server(), data: "/var/lib/appos", proxy_ports: [80, 443] }]]);
    expect(rows().map((r) => r.dataset.testid)).toEqual([
      "install-check-system",
      "install-check-root",
      "install-check-docker",
      "install-check-disk",
      "install-check-ports",
      "install-check-appos",
    ]);
    expect(byId("install-check-docker").textContent).toBe("dockerDocker 27.3.1");
    expect(byId("install-check-disk-detail").textContent).toBe("38 GiB free for /var/lib/appos");
    expect(rows().map((r) => r.dataset.ok)).toEqual(["true", "true", "true", "true", "true", "true"]);
    expect(within(byId("install-check-root")).getByLabelText("passed")).toBeTruthy();
    expect(screen.queryByText("Checking the server…")).toBeNull();
    expect(isDisabled("install-submit")).toBe(false);
    expect(isDisabled("install-recheck")).toBe(false);
  });

  it("keeps Install disabled while a check fails, and checks again without the proxy", async () => {
    const b = new FakeBackend();
    const failing = passing.map((c) => (c.item === "ports" ? portsBusy : c));
    await openInstall(b, failing);
    b.checkAnswers = [withoutPorts];

    const ports = byId("install-check-ports");
    expect(ports.dataset.ok).toBe("false");
    expect(byId("install-check-ports-detail").textContent).toBe("port 80 already in use: stop what listens there, or install without the proxy");
    expect(within(ports).getByLabelText("failed")).toBeTruthy();
    expect(byId("install-not-ready").textContent).toBe("Fix what is marked in red on the server, then check again.");
    expect(isDisabled("install-submit")).toBe(true);

    fireEvent.click(byId("install-proxy"));
    expect((byId("install-proxy") as HTMLInputElement).checked).toBe(false);
    expect((byId("install-http-port") as HTMLInputElement).disabled).toBe(true);
    // The checklist was for the proxy: it says nothing about this choice.
    expect(byId("install-stale").textContent).toBe("The options changed since this check: check again before installing.");
    expect(isDisabled("install-submit")).toBe(true);

    await click("install-recheck");
    const forms = b.callsOf("installCheck").map(([f]) => f as InstallForm);
    expect(forms).toHaveLength(2);
    expect(forms[1]).toEqual({ server: server(), data: "/var/lib/appos", proxy_ports: null });
    expect(screen.queryByTestId("install-check-ports")).toBeNull();
    expect(rows()).toHaveLength(5);
    expect(screen.queryByTestId("install-stale")).toBeNull();
    expect(screen.queryByTestId("install-not-ready")).toBeNull();
    expect(isDisabled("install-submit")).toBe(false);
  });

  it("disables the HTTP and HTTPS ports while Serve domains is unchecked", async () => {
    const b = new FakeBackend();
    await openInstall(b);
    const http = byId("install-http-port") as HTMLInputElement;
    const https = byId("install-https-port") as HTMLInputElement;
    expect((byId("install-proxy") as HTMLInputElement).checked).toBe(true);
    expect([http.disabled, https.disabled]).toEqual([false, false]);

    fireEvent.click(byId("install-proxy"));
    expect((byId("install-proxy") as HTMLInputElement).checked).toBe(false);
    expect([http.disabled, https.disabled]).toEqual([true, true]);
    // The ports are kept for when the proxy is wanted again.
    expect([http.value, https.value]).toEqual(["80", "443"]);

    fireEvent.click(byId("install-proxy"));
    expect([http.disabled, https.disabled]).toEqual([false, false]);
    fill("install-https-port", "8443");
    expect(https.value).toBe("8443");
  });

  it("checks other ports and data folder, and refuses bad ones before asking the server", async () => {
    const b = new FakeBackend();
    await openInstall(b);

    fill("install-http-port", "0");
    expect(byId("install-ports-error").textContent).toBe("The HTTP and HTTPS ports must be numbers from 1 to 65535.");
    expect(isDisabled("install-recheck")).toBe(true);
    expect(isDisabled("install-submit")).toBe(true);
    fill("install-http-port", "65536");
    expect(byId("install-ports-error").textContent).toBe("The HTTP and HTTPS ports must be numbers from 1 to 65535.");
    fill("install-http-port", "443");
    expect(byId("install-ports-error").textContent).toBe("The HTTP and HTTPS ports must differ.");
    fill("install-http-port", "8080");
    fill("install-https-port", "8443");
    expect(screen.queryByTestId("install-ports-error")).toBeNull();

    fill("install-data", "srv/appos");
    expect(byId("install-data-error").textContent).toBe("The data folder must be an absolute path, like /var/lib/appos.");
    expect(isDisabled("install-recheck")).toBe(true);
    fill("install-data", " /srv/appos ");
    expect(screen.queryByTestId("install-data-error")).toBeNull();

    // Unchecked, the ports are not used and not checked.
    fireEvent.click(byId("install-proxy"));
    fill("install-http-port", "x");
    expect(screen.queryByTestId("install-ports-error")).toBeNull();
    fireEvent.click(byId("install-proxy"));
    expect(byId("install-ports-error").textContent).toBe("The HTTP and HTTPS ports must be numbers from 1 to 65535.");
    fill("install-http-port", "8080");

    await click("install-recheck");
    expect(b.callsOf("installCheck").map(([f]) => f)).toEqual([
      { server: server(), data: "/var/lib/appos", proxy_ports: [80, 443] },
      { server: server(), data: "/srv/appos", proxy_ports: [8080, 8443] },
    ]);
  });

  it("installs with live progress, then adds the server like a normal add", async () => {
    const b = new FakeBackend();
    const { onAdded, onClose } = await openInstall(b);
    await click("install-submit");
    const run = b.install();
    expect(run.form).toEqual({ server: server(), data: "/var/lib/appos", proxy_ports: [80, 443] });
    expect(byId("install-submit").textContent).toBe("Installing…");
    expect(isDisabled("install-submit")).toBe(true);
    expect(isDisabled("install-back")).toBe(true);
    expect(isDisabled("install-recheck")).toBe(true);

    // The checklist the install read replaces the one shown.
    run.checked(passing.map((c) => (c.item === "disk" ? { ...c, detail: "37 GiB free for /var/lib/appos" } : c)));
    expect(byId("install-check-disk-detail").textContent).toBe("37 GiB free for /var/lib/appos");

    run.step("saving the image from this computer's Docker");
    expect(stepTexts()).toEqual([["saving the image from this computer's Docker", "running"]]);
    expect(byId("install-steps").querySelector('[aria-current="step"]')?.textContent).toBe("saving the image from this computer's Docker");
    expect(screen.queryByTestId("install-upload")).toBeNull();

    run.upload(0, 300 * MB);
    const bar = byId("install-upload");
    expect(bar.getAttribute("role")).toBe("progressbar");
    expect(bar.getAttribute("aria-valuenow")).toBe("0");
    run.upload(120 * MB, 300 * MB);
    expect(bar.getAttribute("aria-valuenow")).toBe("40");
    expect(byId("install-upload-text").textContent).toBe("Sending the agent image: 120 MB of 300 MB");
    run.upload(300 * MB, 300 * MB);
    expect(bar.getAttribute("aria-valuenow")).toBe("100");

    run.step("image appos/agent:0.1.0 is on the server");
    run.step("the agent's container is starting");
    run.step("the agent answers (ok 0.1.0)");
    expect(stepTexts()).toEqual([
      ["saving the image from this computer's Docker", "done"],
      ["image appos/agent:0.1.0 is on the server", "done"],
      ["the agent's container is starting", "done"],
      ["the agent answers (ok 0.1.0)", "running"],
    ]);
    expect(onAdded).not.toHaveBeenCalled();

    await run.end(prod);
    expect(onAdded).toHaveBeenCalledTimes(1);
    expect(onAdded).toHaveBeenCalledWith(prod);
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId("install-dialog")).toBeNull();
    // Reset: the form is empty again, with nothing of the install left.
    expect((byId("srv-name") as HTMLInputElement).value).toBe("");
    expect(screen.queryByTestId("agent-missing")).toBeNull();
    expect(b.servers.map((s) => s.name)).toEqual(["local", "prod"]);
  });

  it("shows a failed install and keeps the view to check and install again", async () => {
    const b = new FakeBackend();
    const { onAdded } = await openInstall(b);
    await click("install-submit");
    const run = b.install();
    run.step("the server has this image already");
    run.step("the agent's container is starting");
    await run.end(uiError("other", "docker run failed on the server (exit 125): Conflict. The container name \"/appos\" is already in use"));

    const alert = byId("install-error");
    expect(alert.querySelector("p")?.textContent).toBe("Something went wrong");
    expect(alert.textContent).toContain('docker run failed on the server (exit 125): Conflict. The container name "/appos" is already in use');
    expect(byId("install-dialog")).toBeTruthy();
    expect(stepTexts()).toEqual([
      ["the server has this image already", "done"],
      ["the agent's container is starting", "failed"],
    ]);
    expect(byId("install-submit").textContent).toBe("Install");
    expect(isDisabled("install-submit")).toBe(false);
    expect(isDisabled("install-recheck")).toBe(false);
    expect(onAdded).not.toHaveBeenCalled();

    // A failed check line stops the install before anything changes.
    await click("install-submit");
    const again = b.install();
    expect(screen.queryByTestId("install-error")).toBeNull();
    expect(screen.queryByTestId("install-steps")).toBeNull();
    again.checked(passing.map((c) => (c.item === "disk" ? { item: "disk", ok: false, detail: "900 MiB free for /var/lib/appos: 2 GiB are needed" } : c)));
    await again.end(uiError("other", "root@10.0.0.5:22 is not ready for AppOS; nothing was changed"));
    expect(byId("install-error").textContent).toContain("root@10.0.0.5:22 is not ready for AppOS; nothing was changed");
    expect(byId("install-check-disk").dataset.ok).toBe("false");
    expect(byId("install-check-disk-detail").textContent).toBe("900 MiB free for /var/lib/appos: 2 GiB are needed");
    expect(isDisabled("install-submit")).toBe(true);

    // Fixed on the server: check again, install again.
    b.checkAnswers = [passing];
    b.installScripts = [{ progress: [{ type: "checked", checks: passing }, { type: "step", message: "the agent answers (ok 0.1.0)" }], end: prod }];
    await click("install-recheck");
    expect(screen.queryByTestId("install-error")).toBeNull();
    expect(isDisabled("install-submit")).toBe(false);
    await click("install-submit");
    expect(b.installs).toHaveLength(3);
    expect(onAdded).toHaveBeenCalledWith(prod);
  });

  it("shows a failed check with its hint, and checks again", async () => {
    const b = new FakeBackend();
    b.addAnswers = [() => missing];
    b.checkAnswers = [uiError("unreachable", "cannot connect to 10.0.0.5:22: connection refused"), passing];
    renderDialog(b);
    await connect();
    await click("install-offer");
    const alert = await screen.findByTestId("install-error");
    expect(alert.textContent).toContain("Server unreachable");
    expect(alert.textContent).toContain("cannot connect to 10.0.0.5:22: connection refused");
    expect(alert.textContent).toContain("Check the host name and port, and that the server is up.");
    expect(screen.queryByTestId("install-checklist")).toBeNull();
    expect(isDisabled("install-submit")).toBe(true);
    await click("install-recheck");
    expect(screen.queryByTestId("install-error")).toBeNull();
    expect(rows()).toHaveLength(6);
  });

  it("passes the host key the user trusted, and the passphrase, to the install", async () => {
    const b = new FakeBackend();
    b.addAnswers = [
      () => ({ ...uiError("host_key_unknown", "unknown"), host_key: { host: "10.0.0.5", algorithm: "ssh-ed25519", fingerprint: fp } }),
      () => uiError("key_encrypted", "the SSH key /k is encrypted: its passphrase is needed"),
      () => missing,
    ];
    b.checkAnswers = [passing];
    b.installScripts = [{ end: prod }];
    const { onAdded } = renderDialog(b);
    await connect();
    expect((await screen.findByTestId("host-key-fingerprint")).textContent).toBe(fp);
    await click("host-key-accept");
    await screen.findByTestId("add-server-error");
    fill("srv-passphrase", "s3cret");
    await click("add-server-submit");
    await screen.findByTestId("agent-missing");
    expect(b.added.map((f) => f.accept_fingerprint)).toEqual([null, fp, null]);

    await click("install-offer");
    await screen.findByTestId("install-checklist");
    const trusted = server({ accept_fingerprint: fp, passphrase: "s3cret" });
    expect(b.callsOf("installCheck")).toEqual([[{ server: trusted, data: "/var/lib/appos", proxy_ports: [80, 443] }]]);
    await click("install-submit");
    expect(b.callsOf("installServer")).toEqual([[{ server: trusted, data: "/var/lib/appos", proxy_ports: [80, 443] }]]);
    expect(onAdded).toHaveBeenCalledWith(prod);
  });

  it("asks to trust the host key when the install meets a new one, then installs with it", async () => {
    const b = new FakeBackend();
    await openInstall(b);
    const other = "SHA256:ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";
    b.installScripts = [
      { end: { ...uiError("host_key_unknown", "unknown"), host_key: { host: "10.0.0.5", algorithm: "ssh-ed25519", fingerprint: other } } },
      { progress: [{ type: "step", message: "the agent answers (ok 0.1.0)" }], end: prod },
    ];
    await click("install-submit");
    expect((await screen.findByTestId("host-key-fingerprint")).textContent).toBe(other);
    expect(screen.queryByTestId("install-dialog")).toBeNull();
    expect(screen.queryByTestId("install-error")).toBeNull();
    await click("host-key-accept");
    expect(b.callsOf("installServer").map(([f]) => (f as InstallForm).server.accept_fingerprint)).toEqual([null, other]);
    expect(screen.queryByTestId("host-key-dialog")).toBeNull();
  });

  it("goes back to the form, and forgets everything of the install when closed", async () => {
    const b = new FakeBackend();
    const { onClose } = await openInstall(b);
    fill("install-data", "/srv/appos");
    await click("install-back");
    expect(screen.queryByTestId("install-dialog")).toBeNull();
    expect((byId("srv-name") as HTMLInputElement).value).toBe("prod");
    expect(byId("agent-missing")).toBeTruthy();

    // Back again: the options stay, the server is checked again.
    let release!: () => void;
    b.checkGate = new Promise((r) => (release = r));
    await click("install-offer");
    expect((byId("install-data") as HTMLInputElement).value).toBe("/srv/appos");
    expect(screen.queryByTestId("install-checklist")).toBeNull();
    expect(b.callsOf("installCheck")).toHaveLength(2);

    // Closed while checking: the late answer is dropped, nothing is left.
    fireEvent.click(within(byId("install-dialog")).getByText("Cancel"));
    expect(onClose).toHaveBeenCalledTimes(1);
    await act(async () => release());
    expect(screen.queryByTestId("install-dialog")).toBeNull();
    expect(screen.queryByTestId("agent-missing")).toBeNull();
    expect((byId("srv-name") as HTMLInputElement).value).toBe("");

    // A new add of the same server starts the install from scratch.
    b.checkGate = null;
    b.addAnswers = [() => missing];
    await connect();
    await click("install-offer");
    await screen.findByTestId("install-checklist");
    expect((byId("install-data") as HTMLInputElement).value).toBe("/var/lib/appos");
    expect(screen.queryByTestId("install-steps")).toBeNull();
  });
});
