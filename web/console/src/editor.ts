/** The YAML editor of a draft model: CodeMirror 6 with highlighting and lint diagnostics. */
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { type Diagnostic, lintGutter, setDiagnostics } from "@codemirror/lint";
import { EditorSelection, EditorState } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers } from "@codemirror/view";
import type { Placed } from "./problems";

/** Tab is left to the browser (no indentWithTab): keyboard users can leave the editor. */
export function createEditor(parent: HTMLElement, text: string, label: string): EditorView {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        history(),
        drawSelection(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle),
        yaml(),
        lintGutter(),
        keymap.of([...defaultKeymap, ...historyKeymap]),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ "aria-label": label }),
      ],
    }),
  });
}

export function diagnostics(placed: Placed[]): Diagnostic[] {
  return placed.map((p) => ({
    from: p.from,
    to: p.to,
    severity: "error",
    message: p.path ? `${p.path}: ${p.message}` : p.message,
  }));
}

export function showProblems(view: EditorView, placed: Placed[]): void {
  view.dispatch(setDiagnostics(view.state, diagnostics(placed)));
}

export function goTo(view: EditorView, offset: number): void {
  view.dispatch({ selection: EditorSelection.cursor(offset), scrollIntoView: true });
  view.focus();
}
