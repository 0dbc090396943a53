import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AppStats, ContainerStats, StatSample } from "../api/types.gen";
import { app, FakeBackend, uiError, type Answer } from "../test/fakeBackend";
import { byId, renderServer } from "../test/render";
import { STATS_POLL_MS } from "./AppResources";

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const KiB = 1024;
const MiB = 1024 * KiB;
const T = 1_700_000_000_000;

const sample = (at_ms: number, over: Partial<StatSample> = {}): StatSample => ({
  at_ms,
  cpu_percent: 1.5,
  memory_bytes: 48 * MiB,
  memory_limit_bytes: 2048 * MiB,
  net_rx_bytes: MiB,
  net_tx_bytes: 256 * KiB,
  ...over,
});
const container = (name: string, service: string, latest: StatSample | null, history: StatSample[] = []): ContainerStats => ({ id: `id-${name}`, name, service, latest, history });
const stats = (...containers: ContainerStats[]): AppStats => ({ app: "blog", containers });

/** blog's two containers as the agent answers them (sorted by service): db without history yet, web with three minutes. */
const both = (webCpu = 1.5) =>
  stats(
    container("blog-db-1", "db", sample(T + 150_000, { cpu_percent: 12.34, memory_bytes: 300 * MiB, memory_limit_bytes: 0, net_rx_bytes: 0, net_tx_bytes: 512 })),
    container("blog-web-1", "web", sample(T + 150_000, { cpu_percent: webCpu }), [
      sample(T, { cpu_percent: 0, memory_bytes: 32 * MiB }),
      sample(T + 60_000, { cpu_percent: 4, memory_bytes: 64 * MiB }),
      sample(T + 120_000, { cpu_percent: 2, memory_bytes: 48 * MiB }),
    ]),
  );

function setup(...answers: Answer<"get_app_stats">[]) {
  const b = new FakeBackend();
  b.apps.local = [app("blog")];
  b.on("get_app", app("blog"));
  b.on("list_versions", []);
  b.on("list_audit", []);
  b.on("get_app_stats", ...answers);
  return b;
}

const text = (id: string) => byId(id).textContent;
const points = (id: string) => byId(id).querySelector("polyline")?.getAttribute("points");
const alertLines = (el: HTMLElement) => [...el.querySelectorAll("p")].map((p) => p.textContent);

/** The resources section's poll, as the component set it up. */
function poll(every: { mock: { calls: unknown[][]; results: { value: unknown }[] } }) {
  const i = every.mock.calls.flatMap((c, n) => (c[1] === STATS_POLL_MS ? [n] : []));
  expect(i).toHaveLength(1);
  return { run: () => act(async () => (every.mock.calls[i[0]][0] as () => void)()), id: every.mock.results[i[0]].value };
}

describe("App resources", () => {
  it("shows each running container's CPU, memory and network, by service, with charts of the history", async () => {
    const b = setup(both());
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await waitFor(() => expect(text("resources-cpu-blog-web-1")).toBe("1.5%"));
    expect(b.callsOf("get_app_stats")).toEqual([["local", { app: "blog" }]]);

    const section = byId("app-resources");
    expect(within(section).getAllByTestId(/^resources-service-/).map((e) => e.dataset.testid)).toEqual(["resources-service-db", "resources-service-web"]);
    expect(within(byId("resources-service-web")).getAllByTestId(/^resources-container-/).map((e) => e.dataset.testid)).toEqual(["resources-container-blog-web-1"]);

    expect(text("resources-memory-blog-web-1")).toBe("48.0 MiB / 2.0 GiB");
    expect(text("resources-net-blog-web-1")).toBe("1.0 MiB received · 256.0 KiB sent");
    expect(points("resources-cpu-chart-blog-web-1")).toBe("0,24 60,0 120,12");
    expect(points("resources-memory-chart-blog-web-1")).toBe("0,12 60,0 120,6");
    expect(byId("resources-cpu-chart-blog-web-1").getAttribute("aria-label")).toBe("CPU per minute, at most 4.0%");
    expect(byId("resources-memory-chart-blog-web-1").getAttribute("aria-label")).toBe("Memory per minute, at most 64.0 MiB");

    // No memory limit: the memory used alone; no history yet: no chart.
    expect(text("resources-cpu-blog-db-1")).toBe("12.3%");
    expect(text("resources-memory-blog-db-1")).toBe("300.0 MiB");
    expect(text("resources-net-blog-db-1")).toBe("0 B received · 512 B sent");
    expect(screen.queryByTestId("resources-cpu-chart-blog-db-1")).toBeNull();
    expect(screen.queryByTestId("resources-waiting")).toBeNull();
    expect(screen.queryByTestId("resources-error")).toBeNull();
  });

  it("waits for the first reading of a container", async () => {
    const b = setup(stats(container("blog-db-1", "db", sample(T)), container("blog-web-1", "web", null)));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await waitFor(() => expect(text("resources-cpu-blog-db-1")).toBe("1.5%"));
    expect(within(byId("resources-container-blog-web-1")).getByTestId("resources-waiting").textContent).toBe("Waiting for the first reading…");
    expect(screen.getAllByTestId("resources-waiting")).toHaveLength(1);
    expect(screen.queryByTestId("resources-cpu-blog-web-1")).toBeNull();
    expect(screen.queryByTestId("resources-memory-blog-web-1")).toBeNull();
    expect(screen.queryByTestId("resources-net-blog-web-1")).toBeNull();
  });

  it("waits for the first reading while the agent reads no container yet", async () => {
    const b = setup(stats());
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    expect((await screen.findByTestId("resources-waiting")).textContent).toBe("Waiting for the first reading…");
    expect(within(byId("app-resources")).queryByTestId(/^resources-container-/)).toBeNull();
  });

  it("asks again every 5 s while shown, one call at a time, and stops when the page goes", async () => {
    const every = vi.spyOn(window, "setInterval");
    const stop = vi.spyOn(window, "clearInterval");
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const b = setup(both(1.5), both(3), async () => {
      await gate;
      return both(7.25);
    }, both(9));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await waitFor(() => expect(text("resources-cpu-blog-web-1")).toBe("1.5%"));
    const p = poll(every);
    expect(b.callsOf("get_app_stats")).toHaveLength(1);

    await p.run();
    expect(b.callsOf("get_app_stats")).toHaveLength(2);
    await waitFor(() => expect(text("resources-cpu-blog-web-1")).toBe("3.0%"));

    // A slow answer: the next poll does not ask again meanwhile.
    await p.run();
    expect(b.callsOf("get_app_stats")).toHaveLength(3);
    await p.run();
    expect(b.callsOf("get_app_stats")).toHaveLength(3);
    await act(async () => release());
    await waitFor(() => expect(text("resources-cpu-blog-web-1")).toBe("7.3%"));

    // Not while the window is hidden.
    const hidden = vi.spyOn(document, "hidden", "get").mockReturnValue(true);
    await p.run();
    expect(b.callsOf("get_app_stats")).toHaveLength(3);
    hidden.mockRestore();
    await p.run();
    expect(b.callsOf("get_app_stats")).toHaveLength(4);
    await waitFor(() => expect(text("resources-cpu-blog-web-1")).toBe("9.0%"));

    // Another tab: the section is gone and its poll stopped.
    expect(stop).not.toHaveBeenCalledWith(p.id);
    await act(async () => fireEvent.click(byId("tab-logs")));
    expect(screen.queryByTestId("app-resources")).toBeNull();
    expect(stop).toHaveBeenCalledWith(p.id);
  });

  it("shows a failed call, and keeps the last readings when a refresh fails", async () => {
    const every = vi.spyOn(window, "setInterval");
    const b = setup(uiError("other", "the stats stream broke"), both(1.5), uiError("docker_unavailable", "Docker is not reachable"), both(3));
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    const err = await screen.findByTestId("resources-error");
    expect(alertLines(err)).toEqual(["Could not read the resource usage", "the stats stream broke"]);
    expect(within(byId("app-resources")).queryByTestId(/^resources-container-/)).toBeNull();
    const p = poll(every);

    await p.run();
    await waitFor(() => expect(text("resources-cpu-blog-web-1")).toBe("1.5%"));
    expect(screen.queryByTestId("resources-error")).toBeNull();

    await p.run();
    await waitFor(() =>
      expect(alertLines(byId("resources-error"))).toEqual([
        "Could not refresh the resource usage",
        "Docker is not reachable",
        "The agent runs, but Docker does not answer. Start Docker on the server.",
      ]),
    );
    expect(text("resources-cpu-blog-web-1")).toBe("1.5%");
    expect(text("resources-memory-blog-web-1")).toBe("48.0 MiB / 2.0 GiB");

    await p.run();
    await waitFor(() => expect(text("resources-cpu-blog-web-1")).toBe("3.0%"));
    expect(screen.queryByTestId("resources-error")).toBeNull();
  });

  it("is not shown, nor asked for, when no container runs", async () => {
    const stopped = app("blog", { state: "stopped" });
    for (const s of stopped.services) for (const c of s.containers) c.state = "exited";
    const b = setup(both());
    b.on("get_app", stopped);
    renderServer(b, { view: "app", app: "blog", tab: "overview" });
    await waitFor(() => expect(text("app-state")).toBe("stopped"));
    expect(byId("app-overview")).toBeTruthy();
    expect(screen.queryByTestId("app-resources")).toBeNull();
    expect(b.callsOf("get_app_stats")).toHaveLength(0);
  });
});
