import { describe, expect, it } from "vitest";
import { base64Size, fmtBytes, fmtBytesIEC, fmtCpu, fmtDuration, sparkPoints } from "./format";
import type { HostAccess, HostAccessKind, LogLine } from "../api/types.gen";
import { describeHostAccess, isRootAccess, newHostAccess } from "./hostaccess";
import { foldPull, layerFraction } from "./pull";
import { deploymentNotice } from "./server";
import { sideBySide } from "./sidebyside";
import { fieldPath, locateField, parseYaml } from "./yamlcheck";

let seq = 0;
/** A pull step's log line as the agent sends it: typed progress (0/0 when Docker gave no numbers), and its text. */
const pullLine = (image: string, layer: string, status: string, current = 0, total = 0): LogLine => ({
  seq: BigInt(++seq),
  at_ms: 0,
  step: "pull",
  text: `${image} ${layer}: ${status}${total > 0 ? ` ${current}/${total}` : ""}`,
  pull: { image, layer, status, current, total },
});
const textLine = (step: string, text: string): LogLine => ({ seq: BigInt(++seq), at_ms: 0, step, text });

describe("pull progress", () => {
  it("reads typed pull progress with and without sizes and layers", () => {
    expect(foldPull([pullLine("nginx:1.27", "a2abf6c4d29d", "Downloading", 1048576, 29123456)])).toEqual([
      { image: "nginx:1.27", status: "", layers: [{ id: "a2abf6c4d29d", status: "Downloading", current: 1048576, total: 29123456 }] },
    ]);
    expect(foldPull([pullLine("nginx:1.27", "a2abf6c4d29d", "Pull complete")])[0].layers[0]).toMatchObject({ status: "Pull complete", current: null, total: null });
    expect(foldPull([pullLine("ghcr.io/o/app:v1", "", "Digest: sha256:abc")])).toEqual([{ image: "ghcr.io/o/app:v1", status: "Digest: sha256:abc", layers: [] }]);
    // Lines without typed progress are not pulls, whatever their text says.
    expect(foldPull([textLine("up", "Creating network blog_default"), textLine("pull", "nginx:1.27 a2abf6c4d29d: Downloading 1/2")])).toEqual([]);
  });

  it("keeps the latest status per layer, in first-seen order", () => {
    const pulls = foldPull([
      pullLine("nginx:1.27", "", "Pulling from library/nginx"),
      pullLine("nginx:1.27", "aaaaaaaaaaaa", "Pulling fs layer"),
      pullLine("nginx:1.27", "bbbbbbbbbbbb", "Already exists"),
      textLine("pull", "a line in between"),
      pullLine("nginx:1.27", "aaaaaaaaaaaa", "Downloading", 50, 100),
      pullLine("nginx:1.27", "aaaaaaaaaaaa", "Download complete"),
      pullLine("redis:7", "cccccccccccc", "Extracting", 10, 20),
    ]);
    expect(pulls.map((p) => p.image)).toEqual(["nginx:1.27", "redis:7"]);
    expect(pulls[0].status).toBe("Pulling from library/nginx");
    expect(pulls[0].layers.map((l) => [l.id, l.status, l.total])).toEqual([
      ["aaaaaaaaaaaa", "Download complete", 100],
      ["bbbbbbbbbbbb", "Already exists", null],
    ]);
    expect(pulls[0].layers.map(layerFraction)).toEqual([0.7, 1]);
    expect(layerFraction(pulls[1].layers[0])).toBeCloseTo(0.85);
  });
});

describe("side-by-side diff", () => {
  it("pairs removed and added lines and numbers both sides", () => {
    const rows = sideBySide("a\nb\nc\n", "a\nB\nc\nd\n");
    expect(rows).toEqual([
      { kind: "same", left: { n: 1, text: "a" }, right: { n: 1, text: "a" } },
      { kind: "change", left: { n: 2, text: "b" }, right: { n: 2, text: "B" } },
      { kind: "same", left: { n: 3, text: "c" }, right: { n: 3, text: "c" } },
      { kind: "change", left: null, right: { n: 4, text: "d" } },
    ]);
  });
});

describe("YAML checks", () => {
  it("reports syntax errors with lines", () => {
    const p = parseYaml("a: 1\na: 2\n");
    expect(p.doc).toBeNull();
    expect(p.errors[0]).toMatchObject({ line: 2, message: "Map keys must be unique" });
    expect(parseYaml("services: {}\n").errors).toEqual([]);
  });

  it("finds the agent's fields in the text", () => {
    expect(fieldPath("services.web.volumes[0]")).toEqual(["services", "web", "volumes", 0]);
    const text = "services:\n  web:\n    image: nginx\n    volumes:\n      - /etc:/etc\n";
    const { doc } = parseYaml(text);
    expect(locateField(text, doc, "services.web.volumes[0]")).toMatchObject({ line: 5 });
    expect(locateField(text, doc, "services.web.image")).toMatchObject({ line: 3 });
    expect(locateField(text, doc, "services.web.ports")).toMatchObject({ line: 3 }); // nearest existing: the service
  });
});

describe("formatting", () => {
  it("formats sizes, durations and notices", () => {
    expect(fmtBytes(1048576)).toBe("1.0 MB");
    expect(fmtBytes(512)).toBe("512 B");
    expect(fmtDuration(1500)).toBe("1.5 s");
    expect(fmtDuration(125_000)).toBe("2 min 5 s");
    expect(deploymentNotice("prod", { id: "d", app: "blog", operation: "deploy", state: "succeeded", version: 2, error: null })?.title).toBe("blog deployed");
    expect(deploymentNotice("prod", { id: "d", app: "blog", operation: "update", state: "failed", version: 2, error: "x" })?.title).toBe("blog update failed: x");
    expect(deploymentNotice("prod", { id: "d", app: "blog", operation: "deploy", state: "cancelled", error: null })).toBeNull();
  });

  it("tells the size of base64 content", () => {
    for (const text of ["", "a", "ab", "abc", "abcd", "hello, world\n"]) expect(base64Size(btoa(text))).toBe(text.length);
  });
});

describe("resource usage", () => {
  it.each([
    [0, "0 B"],
    [512, "512 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [256 * 1024, "256.0 KiB"],
    [1024 * 1024 - 1, "1.0 MiB"],
    [1024 * 1024, "1.0 MiB"],
    [48 * 1024 * 1024, "48.0 MiB"],
    [1000 * 1024 * 1024, "1000.0 MiB"],
    [2 * 1024 ** 3, "2.0 GiB"],
    [1.5 * 1024 ** 4, "1.5 TiB"],
    [1024 ** 6, "1024.0 PiB"],
    [-1, "?"],
    [NaN, "?"],
    [Infinity, "?"],
  ])("%d bytes read %j", (n, words) => {
    expect(fmtBytesIEC(n)).toBe(words);
  });

  it.each([
    [0, "0.0%"],
    [1.5, "1.5%"],
    [12.34, "12.3%"],
    [99.96, "100.0%"],
    [200, "200.0%"],
    [-1, "?"],
    [NaN, "?"],
  ])("CPU %d reads %j", (p, words) => {
    expect(fmtCpu(p)).toBe(words);
  });

  const box = (samples: [number, number][], width = 120, height = 24) => sparkPoints(samples, width, height);
  it.each<[string, [number, number][], string]>([
    ["nothing", [], ""],
    ["one sample: a level line at the top", [[1000, 5]], "0,0 120,0"],
    ["one zero sample: a level line at the bottom", [[1000, 0]], "0,24 120,24"],
    ["one sample a minute", [[0, 0], [60_000, 10], [120_000, 5]], "0,24 60,0 120,12"],
    ["samples out of order", [[120_000, 5], [0, 0], [60_000, 10]], "0,24 60,0 120,12"],
    ["a gap in time", [[0, 4], [60_000, 2], [240_000, 1]], "0,0 30,12 120,18"],
    ["every value 0", [[0, 0], [60_000, 0]], "0,24 120,24"],
    ["every sample at one time", [[5, 1], [5, 3]], "0,16 120,0"],
    ["a negative value as 0", [[0, -5], [10, 5]], "0,24 120,0"],
    ["a value that is no number left out", [[0, NaN], [10, 5]], "0,0 120,0"],
  ])("draws %s", (_, samples, points) => {
    expect(box(samples)).toBe(points);
  });

  it("rounds to one decimal in any box", () => {
    expect(sparkPoints([[0, 1], [1, 2], [3, 3]], 100, 10)).toBe("0,6.7 33.3,3.3 100,0");
  });
});

describe("host access in words", () => {
  // The agent's HostAccess::describe, word for word.
  const table: [HostAccessKind, string, string, string][] = [
    ["bind", "pihole", "/etc/pihole", "pihole can read and write /etc/pihole on the server"],
    ["read_only_bind", "pihole", "/etc/pihole", "pihole can read /etc/pihole on the server"],
    ["docker_socket", "portainer", "/var/run/docker.sock", "portainer controls Docker through /var/run/docker.sock, which is root on the server"],
    ["volumes_from", "backup", "db", "backup mounts every volume of the container db"],
    ["volume_device", "data", "/dev/sdb1", "the volume data is /dev/sdb1 on the server; every service that mounts it can read and write it"],
    ["host_file", "web", "/etc/app.env", "web reads the server's file /etc/app.env"],
    ["privileged", "dind", "", "dind runs privileged: it can do anything root can on the server"],
    ["host_namespace", "top", "pid", "top sees and can signal every process on the server"],
    ["host_namespace", "top", "userns", "top runs without user namespace remapping"],
    ["host_namespace", "top", "ipc", "top shares the server's ipc namespace"],
    ["host_network", "dns", "host", "dns uses the server's network directly: every interface and port"],
    ["container_network", "sidecar", "vpn", "sidecar joins the network of the container vpn"],
    ["capability", "vpn", "NET_ADMIN", "vpn has the Linux capability NET_ADMIN"],
    ["device", "vpn", "/dev/net/tun", "vpn can use the server's device /dev/net/tun"],
    ["unconfined", "web", "apparmor=unconfined", "web runs with the security option apparmor=unconfined, which lifts its confinement"],
    ["sysctl", "vpn", "net.ipv4.ip_forward", "vpn sets the kernel setting net.ipv4.ip_forward"],
  ];
  it.each(table)("%s of %s on %s", (kind, service, target, words) => {
    expect(describeHostAccess({ kind, service, target })).toBe(words);
  });

  it("covers every kind, and knows which are root", () => {
    const kinds = new Set(table.map(([k]) => k));
    expect(kinds.size).toBe(14);
    const root = [...kinds].filter((kind) => isRootAccess({ kind, service: "s", target: "t" }));
    expect(root.sort()).toEqual(["docker_socket", "privileged"]);
  });

  it("asks only for what the app does not hold", () => {
    const a: HostAccess = { kind: "bind", service: "web", target: "/srv" };
    const b: HostAccess = { kind: "capability", service: "web", target: "NET_ADMIN" };
    const need = (access: HostAccess, granted: boolean) => ({ access, description: describeHostAccess(access), granted });
    expect(newHostAccess({ services: {}, host_access: [need(a, true), need(b, false)] })).toEqual([need(b, false)]);
    expect(newHostAccess({ services: {}, host_access: [] })).toEqual([]);
  });
});
