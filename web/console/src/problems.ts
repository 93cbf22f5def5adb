/** The validation problems of a draft model, placed at their line in the YAML text. */
import { isMap, isSeq } from "yaml";
import { draftDocument } from "./draft";
import type { ModelProblem } from "./types";

export interface Placed {
  from: number;
  to: number;
  /** 1-based line of `from`. */
  line: number;
  message: string;
  path: string;
}

/** "engagement.rules[3].points" -> ["engagement", "rules", 3, "points"]. */
export function pathParts(path: string): (string | number)[] {
  const parts: (string | number)[] = [];
  for (const match of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    parts.push(match[2] !== undefined ? Number(match[2]) : match[1]);
  }
  return parts;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return starts;
}

/** The text range of the deepest node of the path the document has, or null. */
function rangeOfPath(text: string, parts: (string | number)[]): [number, number] | null {
  let node: unknown = draftDocument(text).contents;
  let range: [number, number] | null = null;
  for (const part of parts) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((item) => String((item.key as { value?: unknown })?.value ?? item.key) === String(part));
      const key = pair?.key as { range?: [number, number, number] } | undefined;
      if (key?.range) range = [key.range[0], key.range[1]];
      next = pair?.value;
    } else if (isSeq(node) && typeof part === "number") {
      next = node.items[part];
    }
    const nodeRange = (next as { range?: [number, number, number] } | undefined)?.range;
    if (!next) break;
    if (nodeRange && !isMap(next) && !isSeq(next)) range = [nodeRange[0], nodeRange[1]];
    else if (nodeRange && range === null) range = [nodeRange[0], nodeRange[0]];
    node = next;
  }
  return range;
}

/**
 * Each problem at its line: the API's line and column when it gives them, else the place of
 * its path in the text, else the first line. The range covers the rest of that line.
 */
export function placeProblems(text: string, problems: ModelProblem[]): Placed[] {
  const starts = lineStarts(text);
  const lineEnd = (line: number): number => (line < starts.length ? starts[line] - 1 : text.length);
  return problems.map((problem) => {
    let from: number;
    let line: number;
    if (problem.line && problem.line >= 1 && problem.line <= starts.length) {
      line = problem.line;
      from = Math.min(starts[line - 1] + Math.max(0, (problem.column ?? 1) - 1), lineEnd(line));
    } else {
      const range = problem.path ? rangeOfPath(text, pathParts(problem.path)) : null;
      from = range ? range[0] : 0;
      line = starts.filter((start) => start <= from).length;
    }
    const to = Math.max(from, lineEnd(line));
    return { from, to, line, message: problem.message, path: problem.path };
  });
}
