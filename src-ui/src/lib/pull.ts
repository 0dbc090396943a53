// Per-layer image pull progress, folded from the typed `pull` of a
// deployment's log lines (the agent sends one per layer and status change).
import type { LogLine, PullProgress } from "../api/types.gen";

export interface LayerProgress {
  id: string;
  status: string;
  /** Bytes done and in all; null when unknown. */
  current: number | null;
  total: number | null;
}

export interface ImagePull {
  image: string;
  /** The latest line about the image as a whole, e.g. `Pulling from library/nginx`. */
  status: string;
  layers: LayerProgress[];
}

/** A layer's short id: 12 hex digits. Anything else (empty) is about the image as a whole. */
function isLayer(id: string): boolean {
  return /^[0-9a-f]{12}$/i.test(id);
}

/**
 * Folds the pull progress of log lines into images and layers, in
 * first-seen order; the latest status wins. Lines without `pull` are skipped.
 */
export function foldPull(lines: Iterable<LogLine>): ImagePull[] {
  const images = new Map<string, { status: string; layers: Map<string, LayerProgress> }>();
  for (const line of lines) {
    const p: PullProgress | undefined = line.pull;
    if (!p) continue;
    let img = images.get(p.image);
    if (!img) {
      img = { status: "", layers: new Map() };
      images.set(p.image, img);
    }
    if (!isLayer(p.layer)) {
      img.status = p.status;
      continue;
    }
    const prev = img.layers.get(p.layer);
    // Docker gave no numbers when total is 0: such a status (e.g. "Download
    // complete") keeps the last known size.
    const sized = p.total > 0;
    img.layers.set(p.layer, {
      id: p.layer,
      status: p.status,
      current: sized ? p.current : null,
      total: sized ? p.total : (prev?.total ?? null),
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
