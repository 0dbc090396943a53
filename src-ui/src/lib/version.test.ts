import { describe, expect, it } from "vitest";
import { compareVersions } from "./version";

describe("compareVersions", () => {
  const table: [string, string, number][] = [
    ["0.1.0", "0.1.0", 0],
    ["0.1.0", "0.2.0", -1],
    ["0.2.0", "0.1.0", 1],
    ["0.2.0", "0.10.0", -1],
    ["1.0.0", "0.99.99", 1],
    ["0.1.9", "0.1.10", -1],
    ["2", "10", -1],
    // Missing parts are 0.
    ["0.2", "0.2.0", 0],
    ["1", "1.0.0", 0],
    ["0.2", "0.2.1", -1],
    ["0.2.0.1", "0.2.0", 1],
    // A pre-release sorts before its release, after the release before.
    ["0.2.0-rc.1", "0.2.0", -1],
    ["0.2.0", "0.2.0-rc.1", 1],
    ["0.2.0-rc.1", "0.1.9", 1],
    ["0.2.0-rc.1", "0.2.0-rc.2", -1],
    ["0.2.0-rc.2", "0.2.0-rc.10", -1],
    ["0.2.0-alpha", "0.2.0-beta", -1],
    ["0.2.0-rc", "0.2.0-rc.1", -1],
    ["0.2.0-1", "0.2.0-rc", -1],
    ["0.2.0-rc.1", "0.2.0-rc.1", 0],
    // A leading v, whitespace and build metadata do not count.
    ["v0.2.0", "0.2.0", 0],
    [" 0.2.0\n", "0.2.0", 0],
    ["0.2.0+abc123", "0.2.0", 0],
    ["0.2.0+abc123", "0.1.0", 1],
    // Not a version: equal to anything, never a throw.
    ["", "0.2.0", 0],
    ["latest", "0.2.0", 0],
    ["0.2.0", "unknown", 0],
    ["0.x.0", "0.1.0", 0],
    ["1..2", "1.2", 0],
    ["0.2.0-", "0.1.0", 0],
  ];
  it.each(table)("compareVersions(%j, %j) is %i", (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
  });
});
