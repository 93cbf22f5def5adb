/** How times, durations and points read on the pages. */

/** "3 h", "2 d 4 h", "25 min": a duration a person reads. */
export function duration(ms: number): string {
  const minutes = Math.round(Math.abs(ms) / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

export interface Deadline {
  overdue: boolean;
  /** "overdue 3 h" or "due in 2 h". */
  text: string;
}

/** An MQL's follow-up deadline against now; null when it has none. */
export function deadline(due: string | null, now = Date.now()): Deadline | null {
  if (!due) return null;
  const left = Date.parse(due) - now;
  if (Number.isNaN(left)) return null;
  return left < 0
    ? { overdue: true, text: `overdue ${duration(left)}` }
    : { overdue: false, text: `due in ${duration(left)}` };
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export const epochDate = (seconds: number): string => dateTime(new Date(seconds * 1000).toISOString());

/** Points with their unit and sign: "+12 pts", "-3.5 pts". */
export function points(value: number, signed = true): string {
  const rounded = Math.round(value * 100) / 100;
  return `${signed && rounded > 0 ? "+" : ""}${rounded} pts`;
}

export const score = (value: number): string => `${Math.round(value * 10) / 10} / 100`;


export function display(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
