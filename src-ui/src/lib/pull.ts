// Per-layer image pull progress from a deployment's pull log lines:
// `<image> <layer>: <status>[ <current>/<total>]`, layer a 12-hex id or empty.

export interface LayerProgress {
  id: string;
  status: string;
  current: number | null;
  total: number | null;
}

export interface ImagePull {
  image: string;
  /** The latest line without a layer, e.g. `Pulling from library/nginx`. */
  status: string;
  layers: LayerProgress[];
}

export interface PullLine {
  image: string;
  layer: string;
  status: string;
  current: number | null;
  total: number | null;
}

const LINE = /^(\S+) ([0-9a-f]{12}|): (.*?)(?: (\d+)\/(\d+))?$/;

export function parsePullLine(text: string): PullLine | null {
  const m = LINE.exec(text.trimEnd());
  if (!m) return null;
  return {
    image: m[1],
    layer: m[2],
    status: m[3],
    current: m[4] !== undefined ? Number(m[4]) : null,
    total: m[5] !== undefined ? Number(m[5]) : null,
  };
}

/** Folds lines into images and layers, in first-seen order; the latest status wins. */
export function foldPull(lines: Iterable<string>): ImagePull[] {
  const images = new Map<string, { status: string; layers: Map<string, LayerProgress> }>();
  for (const text of lines) {
    const p = parsePullLine(text);
    if (!p) continue;
    let img = images.get(p.image);
    if (!img) {
      img = { status: "", layers: new Map() };
      images.set(p.image, img);
    }
    if (!p.layer) {
      img.status = p.status;
      continue;
    }
    const prev = img.layers.get(p.layer);
    // A status without numbers keeps the last known size (e.g. "Download complete").
    img.layers.set(p.layer, {
      id: p.layer,
      status: p.status,
      current: p.current,
      total: p.total ?? prev?.total ?? null,
    });
  }
  return [...images].map(([image, v]) => ({ image, status: v.status, layers: [...v.layers.values()] }));
}

export type LayerPhase = "waiting" | "downloading" | "downloaded" | "extracting" | "done";

export function layerPhase(status: string): LayerPhase {
  const s = status.toLowerCase();
  if (s.startsWith("pull complete") || s.startsWith("already exists")) return "done";
  if (s.startsWith("extracting")) return "extracting";
  if (s.startsWith("download complete") || s.startsWith("verifying")) return "downloaded";
  if (s.startsWith("downloading")) return "downloading";
  return "waiting";
}

/** 0..1 for a progress bar: downloading is the first 70 %, extracting the rest. */
export function layerFraction(l: LayerProgress): number {
  const part = l.current !== null && l.total ? Math.min(1, l.current / l.total) : 0;
  switch (layerPhase(l.status)) {
    case "done":
      return 1;
    case "extracting":
      return 0.7 + 0.3 * part;
    case "downloaded":
      return 0.7;
    case "downloading":
      return 0.7 * part;
    default:
      return 0;
  }
}
