// Numbers, times, sizes and states for people.
import type { App } from "../api/types.gen";

/**
 * The word for an app's state: its containers' state, and for an app with
 * none, whether its last deployment failed.
 */
export function appStateWord(app: Pick<App, "state" | "last_deployment">): string {
  if (app.state !== "empty") return app.state;
  return app.last_deployment?.state === "failed" ? "last deployment failed" : "not running";
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/**
 * Bytes in powers of 1024 with one decimal (whole bytes below 1 KiB):
 * "512 B", "48.0 MiB", "2.0 GiB".
 */
export function fmtBytesIEC(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n / 1024;
  let i = 0;
  // What would read "1024.0 KiB" is "1.0 MiB".
  while (Math.round(v * 10) >= 10240 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A share of one CPU with one decimal: "1.5%", "200.0%" for two CPUs busy. */
export function fmtCpu(percent: number): string {
  if (!Number.isFinite(percent) || percent < 0) return "?";
  return `${percent.toFixed(1)}%`;
}

/**
 * The `points` of an SVG polyline that draws `samples` ([time, value] pairs,
 * in any order) in a `width` × `height` box: time from left to right, values
 * from 0 at the bottom to the highest one at the top (all at the bottom when
 * every value is 0; a negative value counts as 0). Samples that all share a
 * time are spread evenly; one sample draws a level line across the box, none
 * draws nothing (""). Coordinates are rounded to one decimal.
 */
export function sparkPoints(samples: readonly (readonly [number, number])[], width: number, height: number): string {
  const s = samples.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v)).sort((a, b) => a[0] - b[0]);
  if (s.length === 0) return "";
  const r = (x: number) => String(Math.round(x * 10) / 10);
  const max = Math.max(...s.map(([, v]) => v));
  const y = (v: number) => (max > 0 ? height - (Math.max(0, v) / max) * height : height);
  if (s.length === 1) return `0,${r(y(s[0][1]))} ${r(width)},${r(y(s[0][1]))}`;
  const t0 = s[0][0];
  const span = s[s.length - 1][0] - t0;
  const x = (t: number, i: number) => (span > 0 ? ((t - t0) / span) * width : (i / (s.length - 1)) * width);
  return s.map(([t, v], i) => `${r(x(t, i))},${r(y(v))}`).join(" ");
}

/** The size of the bytes a base64 text (standard alphabet, padded) holds. */
export function base64Size(b64: string): number {
  const n = b64.length;
  if (n === 0) return 0;
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((n * 3) / 4) - pad);
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A span of whole seconds as the agent writes it: `600` → "10 min", `7200` → "2 h", `86400` → "1 d", `90` → "90 s". */
export function fmtSpan(secs: number): string {
  if (!Number.isFinite(secs) || secs < 0) return "?";
  if (secs > 0 && secs % 86_400 === 0) return `${secs / 86_400} d`;
  if (secs > 0 && secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs > 0 && secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}

/** How long ago `ms` (since the epoch) was, without "ago": "12 s", "3 min", "5 h", "2 d". */
export function fmtAge(ms: number, now = Date.now()): string {
  const d = Math.max(0, now - ms) / 1000;
  if (d < 60) return `${Math.floor(d)} s`;
  if (d < 3600) return `${Math.floor(d / 60)} min`;
  if (d < 86400) return `${Math.floor(d / 3600)} h`;
  return `${Math.floor(d / 86400)} d`;
}

/** "12 s ago", "3 min ago", "yesterday"-ish; `ms` since the epoch. */
export function fmtAgo(ms: number, now = Date.now()): string {
  const d = Math.max(0, now - ms) / 1000;
  if (d < 5) return "just now";
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  if (d < 86400 * 30) return `${Math.floor(d / 86400)} d ago`;
  return fmtTime(ms);
}

export function fmtTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtClock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** An app name: also its compose project name. */
export const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
