/** The API's answers the console reads (functions/api/openapi.json; new routes: notes/console18). */

export interface Reason {
  rule: string;
  points: number;
  count: number;
  /** A sentence a salesperson reads; the rule id is shown when absent. */
  text?: string | null;
}

/** What a lead's score and an account's score both say, per model. */
interface Rated {
  model: string;
  model_version: number;
  score: number;
  fit: number;
  engagement: number;
  grade: string;
  engagement_level: number;
  rating: string;
}

export interface LeadScore extends Rated {
  status: "open" | "mql";
  mql_since: string | null;
  sla_due_at: string | null;
  last_activity_at: string | null;
  reasons: Reason[];
  /** GET /v1/leads/{email} only: the model's thresholds (points) the status crosses. */
  mql_threshold?: number;
  reset_threshold?: number;
}

export interface Lead {
  email: string;
  profile: Record<string, unknown> | null;
  profile_sources?: Record<string, string>;
  account: string | null;
  flags: string[];
  feedback: string | null;
  scores: LeadScore[];
}

export interface ScoreChange {
  kind: "event" | "profile" | "decay" | "rescore";
  event_id: string | null;
  event_type: string | null;
  at: string;
  points: number;
  rule: string | null;
  limited: boolean;
  rules: { rule: string; points: number }[];
  /** Why the event was taken for a machine's and earned nothing (domain/machine.py). */
  machine?: string;
  /** Notes of an event that scored nothing (over_hourly_allowance, spam_post...), when given. */
  [note: string]: unknown;
}

export interface ModelHistory {
  model: string;
  points: number;
  changes: ScoreChange[];
}

export interface LeadHistory {
  email: string;
  history: ModelHistory[];
}

export interface LeadRow {
  email: string | null;
  name: string | null;
  company: string | null;
  account: string | null;
  owner: string | null;
  score: number;
  fit: number;
  engagement: number;
  rating: string;
  status: "open" | "mql";
  mql_since: string | null;
  sla_due_at: string | null;
  last_activity_at: string | null;
}

export interface AccountRow {
  account: string;
  score: number;
  rating: string;
  status: "open" | "mqa";
  mqa_since: string | null;
}

export interface AccountPerson {
  email: string | null;
  name: string | null;
  job_title: unknown;
  company: unknown;
  points: number;
  parts: Record<string, number>;
  engaged: boolean;
  counted: boolean;
  role: string | null;
  fit: number;
  engagement: number;
}

export interface AccountScore extends Rated {
  status: "open" | "mqa";
  mqa_since: string | null;
  engaged_people: number;
  roles: string[];
  parts: Record<string, number>;
  people: AccountPerson[];
}

export interface AccountScores {
  account: string;
  scores: AccountScore[];
}

export interface ModelEntry {
  id: string;
  version: number;
  published_at: number;
}

export interface Notification {
  id: string;
  kind: string;
  email: string | null;
  model: string | null;
  subject: string;
  created_at: string;
  state: "sent" | "pending";
  sent_at: string | null;
}

export interface ModelProblem {
  path: string;
  message: string;
  line: number | null;
  column: number | null;
}

export interface Validation {
  valid: boolean;
  problems: ModelProblem[];
}

export interface TryResult {
  before: LeadScore | null;
  after: LeadScore;
  difference: Record<string, number>;
}

export interface RescoreStarted {
  job_id: string;
  progress_url: string;
  status: string;
}

export interface RescoreProgress {
  job_id: string;
  model: string;
  model_version: number;
  dry_run: boolean;
  status: "queued" | "running" | "completed" | "incomplete";
  leads_total: number;
  listing_complete: boolean;
  leads_done: number;
  changed: number;
  rating_changes: number;
  new_mqls: number;
  lost_mqls: number;
  failures: number;
  /** Dry runs (previews) only. */
  scores?: { before: number[]; after: number[] };
  ratings?: Record<string, Record<string, number>>;
  became_mql?: string[];
  left_mql?: string[];
}

export interface Page<Row> {
  rows: Row[];
  next_cursor: string | null;
}
