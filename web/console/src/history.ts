/** A lead's score over time, from its history and current score, with marks; why a change earned what it did. */
import { machineWhy } from "./machine";
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
  /** The score after each change: the current score less the points of the changes after it. */
  scores: number[];
  marks: Mark[];
}

export interface Thresholds {
  mql: number;
  reset: number;
}

const round = (value: number): number => Math.round(value * 100) / 100;

/** The model's thresholds a lead's score carries (GET /v1/leads/{email}); null when it has none. */
export function thresholdsOf(score: LeadScore): Thresholds | null {
  const { mql_threshold: mql, reset_threshold: reset } = score;
  return typeof mql === "number" && typeof reset === "number" ? { mql, reset } : null;
}

/**
 * The score after each change, walked back from the current score (so the series ends at it
 * even when older history has expired); with the model's thresholds, marks where the score
 * rose to the MQL threshold and where it fell below the reset one; every decay run that moved
 * it; without thresholds, the MQL date the score gives.
 */
export function scoreSeries(history: ModelHistory, score: LeadScore): ScoreSeries {
  const changes = [...history.changes].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const series: ScoreSeries = { times: changes.map((change) => Date.parse(change.at) / 1000), scores: [], marks: [] };
  let total = score.score;
  for (let index = changes.length - 1; index >= 0; index--) {
    series.scores[index] = total;
    total = round(total - changes[index].points);
  }
  const thresholds = thresholdsOf(score);
  const since = score.mql_since ? Date.parse(score.mql_since) / 1000 : null;
  // Before the first change kept: an MQL if above the threshold, or an MQL since before it.
  let mql = thresholds !== null && (total >= thresholds.mql || (since !== null && since < series.times[0]));
  changes.forEach((change, index) => {
    const [at, value] = [series.times[index], series.scores[index]];
    if (thresholds && !mql && value >= thresholds.mql) {
      mql = true;
      series.marks.push({ at, score: value, kind: "mql", label: `MQL: reached ${thresholds.mql}` });
    } else if (thresholds && mql && value < thresholds.reset) {
      mql = false;
      series.marks.push({ at, score: value, kind: "cooled", label: `cooled: below ${thresholds.reset}` });
    }
    if (change.kind === "decay" && change.points !== 0) {
      series.marks.push({ at, score: value, kind: "decay", label: `decay ${round(change.points)} pts` });
    }
  });
  if (!thresholds && since !== null) {
    const index = series.times.findIndex((t) => t >= since);
    series.marks.push({ at: since, score: index < 0 ? score.score : series.scores[index], kind: "mql", label: "MQL" });
  }
  series.marks.sort((a, b) => a.at - b.at);
  return series;
}

const NOTES: Record<string, string> = {
  over_hourly_allowance: "over the hourly allowance of untrusted events",
  spam_post: "a spam post",
  refused_profile: "profile values refused",
};

/** Why a change earned what it did: the rule, or why none (a note, a machine's, "limited", no rule). */
export function changeWhy(change: ScoreChange): string {
  const notes = Object.keys(NOTES).filter((note) => change[note]);
  if (notes.length > 0) return notes.map((note) => NOTES[note]).join("; ");
  if (change.machine) return machineWhy(change.machine);
  if (change.limited) return `limited: ${change.rule ?? "the rule"}'s limit was already reached`;
  if (change.kind === "decay") return "decay: no recent activity";
  if (change.kind === "rescore") return "rescored with a new model version";
  if (change.rule) return change.rule;
  if (change.rules.length > 0) return change.rules.map((r) => r.rule).join(", ");
  return change.points === 0 ? "no rule matched" : "—";
}
