import { describe, expect, it } from "vitest";
import { base64Size, fmtAge, fmtBytes, fmtBytesIEC, fmtCpu, fmtDuration, fmtSpan, sparkPoints } from "./format";
import type { AlertRule, AlertSeverity, HostAccess, HostAccessKind, LogLine, NoticeKind } from "../api/types.gen";
import { alert, alertRule } from "../test/fakeBackend";
import { alertNotice, alertNoticeKey, alertNoticeOf, recipients, repeatText, sortAlerts, thresholdText, windowText } from "./alerts";
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

describe("alerts in words", () => {
  const table: [AlertRule, string, AlertSeverity, NoticeKind, string][] = [
    ["restart_loop", "blog-web-1", "critical", "firing", "Critical: restart loop on prod: blog-web-1"],
    ["restart_loop", "blog-web-1", "critical", "repeat", "Critical: restart loop on prod: blog-web-1 (still)"],
    ["restart_loop", "blog-web-1", "critical", "resolved", "Resolved: restart loop on prod: blog-web-1"],
    ["deployment_failed", "blog", "critical", "firing", "Critical: deployment failed on prod: blog"],
    ["deployment_failed", "blog", "critical", "resolved", "Resolved: deployment failed on prod: blog"],
    ["unhealthy", "blog-web-1", "warning", "firing", "Unhealthy on prod: blog-web-1"],
    ["unhealthy", "blog-web-1", "warning", "repeat", "Unhealthy on prod: blog-web-1 (still)"],
    ["unhealthy", "blog-web-1", "warning", "resolved", "Resolved: unhealthy on prod: blog-web-1"],
    ["memory_high", "shop-worker-1", "warning", "firing", "Memory near its limit on prod: shop-worker-1"],
    ["memory_high", "shop-worker-1", "critical", "firing", "Critical: memory near its limit on prod: shop-worker-1"],
    ["memory_high", "shop-worker-1", "warning", "repeat", "Memory near its limit on prod: shop-worker-1 (still)"],
    ["disk_low", "/", "warning", "firing", "Disk almost full on prod: /"],
    ["disk_low", "/", "critical", "repeat", "Critical: disk almost full on prod: / (still)"],
    ["disk_low", "/", "critical", "resolved", "Resolved: disk almost full on prod: /"],
  ];
  it.each(table)("%s of %s, %s, %s", (rule, subject, severity, notice, title) => {
    const a = alert(7, { rule, subject, severity, summary: `the summary of ${rule}` });
    expect(alertNotice("prod", { notice, server: "prod.example.com", alert: a })).toEqual({ title, body: `the summary of ${rule}` });
  });

  it("leaves certificates to the certificate notices", () => {
    for (const notice of ["firing", "repeat", "resolved"] as const)
      expect(alertNotice("prod", { notice, server: "prod", alert: alert(1, { rule: "certificate_expiring", subject: "blog.example.com", severity: "warning" }) })).toBeNull();
  });

  it("reads a notice from an event's data, and nothing else", () => {
    const a = alert(3);
    expect(alertNoticeOf({ notice: "repeat", server: "box", alert: a })).toEqual({ notice: "repeat", server: "box", alert: a });
    expect(alertNoticeOf({ notice: "firing", alert: { id: 1, rule: "new_rule", subject: "x", summary: "s" } })?.alert).toMatchObject({ rule: "new_rule", severity: "warning", notices: 0 });
    expect(alertNotice("prod", alertNoticeOf({ notice: "firing", alert: { id: 1, rule: "new_rule", subject: "x", summary: "s" } })!)?.title).toBe("new rule on prod: x");
    expect(alertNoticeOf({ notice: "sent", server: "box", alert: a })).toBeNull();
    expect(alertNoticeOf({ notice: "firing", server: "box" })).toBeNull();
    expect(alertNoticeOf({ notice: "firing", alert: { ...a, id: "3" } })).toBeNull();
    expect(alertNoticeOf(null)).toBeNull();
  });

  it("keys each notice, repeats apart", () => {
    const n = (notice: NoticeKind, notices: number) => alertNoticeKey("prod", { notice, server: "x", alert: alert(5, { notices }) });
    expect(n("firing", 1)).toBe("prod/alert/5/firing/1");
    expect(new Set([n("firing", 1), n("repeat", 2), n("repeat", 3), n("resolved", 4)]).size).toBe(4);
  });

  it("puts firing alerts first, critical before warning, then the latest resolved", () => {
    const t = 1_700_000_000_000;
    const list = [
      alert(1, { state: "resolved", fired_at_ms: t - 5000, resolved_at_ms: t - 4000 }),
      alert(2, { severity: "warning", fired_at_ms: t - 100 }),
      alert(3, { state: "resolved", fired_at_ms: t - 9000, resolved_at_ms: t - 1000 }),
      alert(4, { severity: "critical", fired_at_ms: t - 3000 }),
      alert(5, { severity: "critical", fired_at_ms: t - 2000 }),
    ];
    expect(sortAlerts(list).map((a) => a.id)).toEqual([5, 4, 2, 3, 1]);
  });

  it("writes a rule's settings", () => {
    expect(thresholdText(alertRule("memory_high"))).toBe("90% of the limit");
    expect(thresholdText(alertRule("disk_low"))).toBe("10% free");
    expect(thresholdText(alertRule("restart_loop"))).toBe("3 exits");
    expect(thresholdText(alertRule("certificate_expiring"))).toBe("30 days left");
    expect(thresholdText(alertRule("unhealthy"))).toBe("—");
    expect([windowText(0), windowText(600), windowText(90)]).toEqual(["at once", "10 min", "90 s"]);
    expect([repeatText(0), repeatText(3600), repeatText(21600), repeatText(86400)]).toEqual(["once", "every 1 h", "every 6 h", "every 1 d"]);
    expect([fmtSpan(0), fmtSpan(59), fmtSpan(120), fmtSpan(5400), fmtSpan(172800)]).toEqual(["0 s", "59 s", "2 min", "90 min", "2 d"]);
    const now = 1_700_000_000_000;
    expect([fmtAge(now - 12_000, now), fmtAge(now - 40 * 60_000, now), fmtAge(now - 5 * 3600_000, now), fmtAge(now - 3 * 86400_000, now)]).toEqual(["12 s", "40 min", "5 h", "3 d"]);
  });

  it("splits email recipients", () => {
    expect(recipients(" ops@example.com, alice@example.com ;bob@example.com,, ")).toEqual(["ops@example.com", "alice@example.com", "bob@example.com"]);
    expect(recipients("  ")).toEqual([]);
  });
});
