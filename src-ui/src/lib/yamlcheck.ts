// Client-side YAML checks for the compose editor, and locating the agent's
// field errors (`services.web.image`) in the text.
import { isNode, parseDocument, type Document } from "yaml";

export interface TextProblem {
  line: number;
  col: number;
  from: number;
  to: number;
  message: string;
}

export interface Parsed {
  doc: Document | null;
  errors: TextProblem[];
}

export function parseYaml(text: string): Parsed {
  let doc: Document;
  try {
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    return { doc: null, errors: [{ line: 1, col: 1, from: 0, to: 0, message: e instanceof Error ? e.message : String(e) }] };
  }
  const errors = doc.errors.map((e) => ({
    line: e.linePos?.[0].line ?? 1,
    col: e.linePos?.[0].col ?? 1,
    from: e.pos[0],
    to: Math.max(e.pos[1], e.pos[0]),
    message: e.message.split(" at line ")[0],
  }));
  return { doc: errors.length ? null : doc, errors };
}

/** `services.web.volumes[0]` → ["services", "web", "volumes", 0]. */
export function fieldPath(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of field.split(".")) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

function lineCol(text: string, pos: number) {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  return { line, col: pos - before.lastIndexOf("\n") };
}

/** Where a field error points in the text: the deepest existing node on its path. */
export function locateField(text: string, doc: Document | null, field: string): TextProblem | null {
  if (!doc) return null;
  const path = fieldPath(field);
  if (path[0] === "compose") path.shift();
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const from = node.range[0];
      const eol = text.indexOf("\n", from);
      const to = Math.max(from, Math.min(node.range[1], eol < 0 ? text.length : eol));
      return { ...lineCol(text, from), from, to, message: "" };
    }
  }
  return null;
}
