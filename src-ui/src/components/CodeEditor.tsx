// A thin React wrapper around CodeMirror 6 for YAML, with diagnostics pushed
// from outside (the YAML parser and the agent's check).
import { useEffect, useRef } from "react";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { bracketMatching, foldGutter, foldKeymap, HighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { EditorState } from "@codemirror/state";
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";
import { tags as t } from "@lezer/highlight";

export type { Diagnostic };

// Colours come from CSS classes (index.css), so the light and dark themes apply.
const highlight = HighlightStyle.define([
  { tag: [t.propertyName, t.definition(t.propertyName)], class: "cmt-key" },
  { tag: [t.string, t.special(t.string)], class: "cmt-string" },
  { tag: [t.number, t.bool, t.null], class: "cmt-atom" },
  { tag: [t.comment, t.lineComment], class: "cmt-comment" },
  { tag: [t.keyword, t.typeName, t.labelName, t.meta], class: "cmt-meta" },
  { tag: [t.punctuation, t.separator, t.squareBracket, t.brace], class: "cmt-punct" },
]);

const theme = EditorView.theme({
  "&": { fontSize: "12.5px", height: "100%", backgroundColor: "transparent" },
  ".cm-scroller": { fontFamily: "var(--font-mono)", lineHeight: "1.55" },
  ".cm-content": { caretColor: "currentColor" },
  ".cm-gutters": { backgroundColor: "transparent", borderRight: "1px solid var(--cm-border)", color: "var(--cm-gutter)" },
  ".cm-activeLine": { backgroundColor: "var(--cm-active)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--cm-active)" },
  "&.cm-focused": { outline: "none" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground": { backgroundColor: "var(--cm-selection) !important" },
  ".cm-cursor": { borderLeftColor: "currentColor" },
});

export function CodeEditor({
  value,
  onChange,
  diagnostics = [],
  testId,
  readOnly = false,
  ariaLabel,
  onSave,
}: {
  value: string;
  onChange: (v: string) => void;
  diagnostics?: Diagnostic[];
  testId?: string;
  readOnly?: boolean;
  ariaLabel?: string;
  /** Ctrl/Cmd+S. */
  onSave?: () => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const change = useRef(onChange);
  change.current = onChange;
  const save = useRef(onSave);
  save.current = onSave;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          foldGutter(),
          lintGutter(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          highlightActiveLine(),
          highlightSelectionMatches(),
          syntaxHighlighting(highlight),
          yaml(),
          EditorState.tabSize.of(2),
          EditorState.readOnly.of(readOnly),
          keymap.of([
            {
              key: "Mod-s",
              preventDefault: true,
              run: () => {
                save.current?.();
                return true;
              },
            },
            ...defaultKeymap, ...historyKeymap, ...searchKeymap, ...foldKeymap, indentWithTab]),
          theme,
          EditorView.contentAttributes.of({ "aria-label": ariaLabel ?? "Editor", spellcheck: "false" }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) change.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is created once; `value` changes are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [readOnly]);

  // A value set from outside (a loaded file, a reset) replaces the text.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const len = v.state.doc.length;
    const clamped = diagnostics.map((d) => ({ ...d, from: Math.min(d.from, len), to: Math.min(Math.max(d.to, d.from), len) }));
    v.dispatch(setDiagnostics(v.state, clamped));
  }, [diagnostics, value]);

  return <div ref={host} data-testid={testId} className="h-full min-h-0 overflow-hidden" />;
}

/** The editor view inside an element rendered by CodeEditor (for tests and tools). */
export function editorViewIn(el: Element): EditorView | null {
  const root = el.querySelector(".cm-editor");
  return root ? EditorView.findFromDOM(root as HTMLElement) : null;
}
