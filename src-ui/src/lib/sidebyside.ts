// A side-by-side view of a line diff: unchanged lines on both sides,
// removed lines on the left facing the added lines that replaced them.
import { diffLines } from "diff";

export interface Cell {
  n: number;
  text: string;
}

export interface DiffRow {
  kind: "same" | "change";
  left: Cell | null;
  right: Cell | null;
}

function splitLines(s: string): string[] {
  const lines = s.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

export function sideBySide(a: string, b: string): DiffRow[] {
  const rows: DiffRow[] = [];
  let ln = 1;
  let rn = 1;
  let removed: string[] = [];
  let added: string[] = [];
  const flush = () => {
    for (let i = 0; i < Math.max(removed.length, added.length); i++)
      rows.push({
        kind: "change",
        left: i < removed.length ? { n: ln++, text: removed[i] } : null,
        right: i < added.length ? { n: rn++, text: added[i] } : null,
      });
    removed = [];
    added = [];
  };
  for (const part of diffLines(a, b)) {
    const lines = splitLines(part.value);
    if (part.removed) removed.push(...lines);
    else if (part.added) added.push(...lines);
    else {
      flush();
      for (const t of lines) rows.push({ kind: "same", left: { n: ln++, text: t }, right: { n: rn++, text: t } });
    }
  }
  flush();
  return rows;
}
