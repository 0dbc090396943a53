import { describe, expect, it } from "vitest";
import { fmtBytes, fmtDuration } from "./format";
import type { LogLine } from "../api/types.gen";
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
});
