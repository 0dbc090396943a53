import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { LogLine } from "../api/types.gen";
import { deployment, FakeBackend, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

afterEach(cleanup);

const t0 = Date.now() - 4000;
const steps = [
  { name: "write_files", state: "succeeded" as const, started_ms: t0, finished_ms: t0 + 10, detail: "compose.yml written" },
  { name: "validate", state: "succeeded" as const, started_ms: t0 + 10, finished_ms: t0 + 400, detail: "compose config ok" },
  { name: "pull", state: "running" as const, started_ms: t0 + 400, finished_ms: null, detail: "" },
];
let seq = 0;
const line = (step: string, text: string): LogLine => ({ seq: BigInt(++seq), at_ms: Date.now(), step, text });
/** A pull line as the agent sends it: typed progress (0/0 without numbers) and its text. */
const pullLine = (image: string, layer: string, status: string, current = 0, total = 0): LogLine => ({
  ...line("pull", `${image} ${layer}: ${status}${total > 0 ? ` ${current}/${total}` : ""}`),
  pull: { image, layer, status, current, total },
});

describe("Deployment view", () => {
  it("shows steps, the live log and per-layer pull progress", async () => {
    const b = new FakeBackend();
    b.on("get_deployment", deployment("d-1", { steps }));
    renderServer(b, { view: "deployment", id: "d-1" });
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("running"));
    expect(byId("deployment-step-write_files").dataset.state).toBe("succeeded");
    expect(byId("deployment-step-validate").textContent).toContain("compose config ok");
    expect(byId("deployment-step-pull").dataset.state).toBe("running");
    expect(byId("deployment-cancel")).toBeTruthy();

    const log = b.stream("deployment_log");
    expect(log.req).toEqual({ type: "deployment_log", id: "d-1" });
    log.push({ type: "deployment_log", line: line("validate", "services: web") });
    log.push({ type: "deployment_log", line: pullLine("nginx:1.27", "", "Pulling from library/nginx") });
    log.push({ type: "deployment_log", line: pullLine("nginx:1.27", "a2abf6c4d29d", "Downloading", 1048576, 29123456) });
    log.push({ type: "deployment_log", line: pullLine("nginx:1.27", "a9edb18cadd1", "Pulling fs layer") });
    await waitFor(() => expect(byId("deployment-log").textContent).toContain("Downloading 1048576/29123456"));
    expect(byId("deployment-log").textContent).toContain("services: web");
    expect(byId("deployment-log").querySelectorAll('[data-step="pull"]').length).toBeGreaterThan(0);

    const bar = () => byId("layer-a2abf6c4d29d").querySelector('[role="progressbar"]')!;
    expect(byId("pull-progress").textContent).toContain("Pulling from library/nginx");
    expect(Number(bar().getAttribute("aria-valuenow"))).toBe(Math.round(0.7 * (1048576 / 29123456) * 100));
    expect(byId("layer-a9edb18cadd1").dataset.status).toBe("Pulling fs layer");
    expect(byId("layer-a2abf6c4d29d").textContent).toContain("1.0 MB/27.8 MB");

    log.push({ type: "deployment_log", line: pullLine("nginx:1.27", "a2abf6c4d29d", "Pull complete") });
    await waitFor(() => expect(bar().getAttribute("aria-valuenow")).toBe("100"));
    expect(byId("layer-a2abf6c4d29d").dataset.status).toBe("Pull complete");
  });

  it("shows a step the agent's restart interrupted, with its own icon and wording", async () => {
    const b = new FakeBackend();
    const retried = [
      { ...steps[0], state: "interrupted" as const, detail: "" },
      { ...steps[1], state: "interrupted" as const, detail: "interrupted: the agent stopped while this step ran; attempt 2 runs the deployment again" },
      { ...steps[2] },
    ];
    b.on("get_deployment", deployment("d-7", { steps: retried, attempt: 2 }));
    renderServer(b, { view: "deployment", id: "d-7" });
    await waitFor(() => expect(byId("deployment-step-write_files").dataset.state).toBe("interrupted"));
    const step = byId("deployment-step-write_files");
    expect(step.querySelector('[role="img"]')?.getAttribute("aria-label")).toBe("interrupted");
    expect(step.querySelector(".text-amber-500")).toBeTruthy();
    expect(step.textContent).toContain("interrupted: the agent stopped while this step ran; a later attempt runs it again");
    expect(byId("deployment-step-validate").textContent).toContain("attempt 2 runs the deployment again");
    expect(byId("deployment-step-pull").querySelector('[role="img"]')?.getAttribute("aria-label")).toBe("running");
  });

  it("cancels a running deployment", async () => {
    const b = new FakeBackend();
    b.on("get_deployment", deployment("d-2", { steps }));
    b.on("cancel_deployment", deployment("d-2", { steps, state: "cancelled", error: "cancelled by the user", finished_ms: Date.now() }));
    renderServer(b, { view: "deployment", id: "d-2" });
    const cancel = await screen.findByTestId("deployment-cancel");
    await act(async () => fireEvent.click(cancel));
    expect(b.callsOf("cancel_deployment")).toEqual([["local", { id: "d-2" }]]);
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("cancelled"));
    expect(screen.queryByTestId("deployment-cancel")).toBeNull();
    expect(byId("deployment-failure").textContent).toContain("cancelled by the user");
  });

  it("shows a failed cancel where it happened", async () => {
    const b = new FakeBackend();
    b.on("get_deployment", deployment("d-3", { state: "queued" }));
    b.on("cancel_deployment", uiError("other", "already finished"));
    renderServer(b, { view: "deployment", id: "d-3" });
    const cancel = await screen.findByTestId("deployment-cancel");
    await act(async () => fireEvent.click(cancel));
    expect((await screen.findByTestId("deployment-cancel-error")).textContent).toContain("already finished");
  });

  it("follows the events stream and notifies the end once", async () => {
    const b = new FakeBackend();
    b.on("get_deployment", deployment("d-4", { steps }), deployment("d-4", { state: "succeeded", finished_ms: Date.now(), steps }));
    renderServer(b, { view: "deployment", id: "d-4" });
    const events = await connected(b);
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("running"));
    // Someone else's deployment changes nothing here.
    events.event("deployment", "shop", { deployment: "other", state: "running", operation: "deploy" });
    expect(b.callsOf("get_deployment")).toHaveLength(1);
    events.event("deployment", "blog", { deployment: "d-4", state: "succeeded", operation: "deploy", version: 1, error: null });
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("succeeded"));
    expect(screen.queryByTestId("deployment-cancel")).toBeNull();
    events.event("deployment", "blog", { deployment: "d-4", state: "succeeded", operation: "deploy", version: 1, error: null });
    b.stream("deployment_log").end();
    await waitFor(() => expect(b.callsOf("get_deployment").length).toBeGreaterThanOrEqual(3));
    expect(b.notifications).toEqual([{ title: "blog deployed", body: expect.stringContaining("succeeded") }]);
  });

  it("notifies a failure it saw itself, with the error", async () => {
    const b = new FakeBackend();
    b.on("get_deployment", deployment("d-5", { steps }), deployment("d-5", { state: "failed", error: "web exited: Exited (1)", finished_ms: Date.now(), steps }));
    renderServer(b, { view: "deployment", id: "d-5" });
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("running"));
    b.stream("deployment_log").end();
    await waitFor(() => expect(byId("deployment-state").textContent).toBe("failed"));
    expect(byId("deployment-failure").textContent).toContain("web exited");
    expect(b.notifications).toEqual([{ title: "blog failed: web exited: Exited (1)", body: expect.any(String) }]);
  });

  it("shows a broken log stream and reconnects on demand", async () => {
    const b = new FakeBackend();
    b.on("get_deployment", deployment("d-6", { steps }));
    renderServer(b, { view: "deployment", id: "d-6" });
    await screen.findByTestId("deployment-state");
    b.stream("deployment_log").push({ type: "deployment_log", line: line("pull", "one") });
    b.stream("deployment_log").end(uiError("unreachable", "tunnel closed"));
    expect((await screen.findByTestId("deployment-log-error")).textContent).toContain("tunnel closed");
    fireEvent.click(screen.getByText("Retry"));
    await waitFor(() => expect(b.streams.filter((s) => s.req.type === "deployment_log")).toHaveLength(2));
    expect(screen.queryByTestId("deployment-log-error")).toBeNull();
  });
});
