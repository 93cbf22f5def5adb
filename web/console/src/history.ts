/** A lead's score over time, from its history: each change added in time order, with marks. */
import type { LeadScore, ModelHistory, ScoreChange } from "./types";

export interface Mark {
  at: number;
  score: number;
  kind: "mql" | "cooled" | "decay";
  label: string;
}

export interface ScoreSeries {
  /** Epoch seconds of each change, in time order. */
  times: number[];
  /** The score after each change (the running sum of the changes' points). */
  scores: number[];
  marks: Mark[];
}

export interface Thresholds {
  mql: number;
  reset: number;
}

const round = (value: number): number => Math.round(value * 100) / 100;

/**
 * The running sum of the changes' points; with the model's thresholds, marks where the score
 * rose to the MQL threshold and where it fell below the reset one; every decay run that moved
 * it; without thresholds, the MQL date the lead's score gives.
 */
export function scoreSeries(history: ModelHistory, thresholds: Thresholds | null, score?: LeadScore): ScoreSeries {
  const changes = [...history.changes].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const series: ScoreSeries = { times: [], scores: [], marks: [] };
  let total = 0;
  let mql = false;
  for (const change of changes) {
    const at = Date.parse(change.at) / 1000;
    total = round(total + change.points);
    series.times.push(at);
    series.scores.push(total);
    if (thresholds) {
      if (!mql && total >= thresholds.mql) {
        mql = true;
        series.marks.push({ at, score: total, kind: "mql", label: `MQL: reached ${thresholds.mql}` });
      } else if (mql && total < thresholds.reset) {
        mql = false;
        series.marks.push({ at, score: total, kind: "cooled", label: `cooled: below ${thresholds.reset}` });
      }
    }
    if (change.kind === "decay" && change.points !== 0) {
      series.marks.push({ at, score: total, kind: "decay", label: `decay ${round(change.points)} pts` });
    }
  }
  if (!thresholds && score?.mql_since) {
    const at = Date.parse(score.mql_since) / 1000;
    const index = series.times.findIndex((t) => t >= at);
    const value = index < 0 ? total : series.scores[index];
    series.marks.push({ at, score: value, kind: "mql", label: "MQL" });
  }
  series.marks.sort((a, b) => a.at - b.at);
  return series;
}

/** The model's thresholds from its document (the API's GET /v1/models/{id}); null if unreadable. */
export function modelThresholds(document: Record<string, unknown> | null): Thresholds | null {
  const thresholds = document?.thresholds as Partial<Thresholds> | undefined;
  if (!document) return null;
  return { mql: Number(thresholds?.mql ?? 60), reset: Number(thresholds?.reset ?? 45) };
}

const NOTES: Record<string, string> = {
  over_hourly_allowance: "over the hourly allowance of untrusted events",
  spam_post: "a spam post",
  refused_profile: "profile values refused",
};

/** Why a change earned what it did: the rule, or why none ("limited", a note, no rule). */
export function changeWhy(change: ScoreChange): string {
  const notes = Object.keys(NOTES).filter((note) => change[note]);
  if (notes.length > 0) return notes.map((note) => NOTES[note]).join("; ");
  if (change.limited) return `limited: ${change.rule ?? "the rule"}'s limit was already reached`;
  if (change.kind === "decay") return "decay: no recent activity";
  if (change.kind === "rescore") return "rescored with a new model version";
  if (change.rule) return change.rule;
  if (change.rules.length > 0) return change.rules.map((r) => r.rule).join(", ");
  return change.points === 0 ? "no rule matched" : "—";
}
