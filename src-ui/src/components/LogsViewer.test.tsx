import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { AppLogLine } from "../api/types.gen";
import { app, FakeBackend, uiError } from "../test/fakeBackend";
import { byId, renderServer } from "../test/render";

afterEach(cleanup);

const l = (service: string, text: string, stream = "stdout"): AppLogLine => ({ service, container: `blog-${service}-1`, stream, text, at_us: 0 });

async function openLogs() {
  const b = new FakeBackend();
  b.on("get_app", app("blog"));
  renderServer(b, { view: "app", app: "blog", tab: "logs" });
  await screen.findByTestId("logs-view");
  await waitFor(() => expect(b.openStreams("app_logs")).toHaveLength(1));
  return b;
}

describe("Logs viewer", () => {
  it("streams service-tagged lines, stderr apart", async () => {
    const b = await openLogs();
    const s = b.stream("app_logs");
    expect(s.req).toEqual({ type: "app_logs", app: "blog", service: null, tail: 200, grep: null, follow: true });
    s.push({ type: "app_log", line: l("web", "GET / 200") });
    s.push({ type: "app_log", line: l("db", "FATAL: password authentication failed", "stderr") });
    await waitFor(() => expect(byId("logs-output").textContent).toContain("FATAL"));
    const rows = byId("logs-output").querySelectorAll("[data-stream]");
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toBe("webGET / 200");
    expect((rows[1] as HTMLElement).dataset.stream).toBe("stderr");
    expect((rows[1] as HTMLElement).dataset.service).toBe("db");
    expect([...(byId("logs-service") as HTMLSelectElement).options].map((o) => o.value)).toEqual(["", "web", "db"]);
  });

  it("re-opens the stream when the service, grep or follow change, closing the old one", async () => {
    const b = await openLogs();
    const first = b.stream("app_logs");
    first.push({ type: "app_log", line: l("web", "old line") });
    await waitFor(() => expect(byId("logs-output").textContent).toContain("old line"));

    fireEvent.change(byId("logs-service"), { target: { value: "web" } });
    await waitFor(() => expect(first.closed).toBe(true));
    const second = b.stream("app_logs");
    expect(second.req).toMatchObject({ service: "web", grep: null, follow: true });
    expect(byId("logs-output").textContent).not.toContain("old line");

    fireEvent.change(byId("logs-grep"), { target: { value: "err" } });
    fireEvent.change(byId("logs-grep"), { target: { value: "error|warn" } });
    await waitFor(() => expect(second.closed).toBe(true));
    const third = b.stream("app_logs");
    expect(third.req).toMatchObject({ service: "web", grep: "error|warn", follow: true });
    // Debounced: the intermediate "err" never opened a stream.
    expect(b.streams.filter((s) => s.req.type === "app_logs")).toHaveLength(3);
    third.push({ type: "app_log", line: l("web", "an error here") });
    await waitFor(() => expect(byId("logs-output").querySelector("mark")?.textContent).toBe("error"));

    expect((byId("logs-follow") as HTMLInputElement).checked).toBe(true);
    fireEvent.click(byId("logs-follow"));
    expect((byId("logs-follow") as HTMLInputElement).checked).toBe(false);
    await waitFor(() => expect(third.closed).toBe(true));
    expect(b.stream("app_logs").req).toMatchObject({ follow: false, grep: "error|warn" });
    expect(b.openStreams("app_logs")).toHaveLength(1);
  });

  it("keeps at most 5000 lines", async () => {
    const b = await openLogs();
    const s = b.stream("app_logs");
    for (let i = 0; i < 5100; i++) s.push({ type: "app_log", line: l("web", `line ${i}`) });
    await waitFor(() => expect(byId("logs-output").querySelectorAll("[data-stream]")).toHaveLength(5000));
    expect(byId("logs-status").textContent).toContain("100 older dropped");
    expect(byId("logs-output").querySelector("[data-stream]")?.textContent).toBe("webline 100");
  });

  it("shows a stream error with a way to reconnect", async () => {
    const b = await openLogs();
    b.stream("app_logs").end(uiError("invalid_input", "grep: not a valid regular expression"));
    expect((await screen.findByTestId("logs-error")).textContent).toContain("not a valid regular expression");
    fireEvent.click(screen.getByText("Retry"));
    await waitFor(() => expect(b.streams.filter((s) => s.req.type === "app_logs")).toHaveLength(2));
  });
});
