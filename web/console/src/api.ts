/** The HTTP API client: the signed-in user's ID token as a Bearer token, problem+json as errors. */
import type {
  AccountRow,
  AccountScores,
  Lead,
  LeadHistory,
  LeadRow,
  ModelEntry,
  Notification,
  RescoreProgress,
  RescoreStarted,
  TryResult,
  Validation,
} from "./types";

/** RFC 9457 problem details, as every error of the API is. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  /** A refused draft's errors also carry their line and column in its YAML text. */
  errors?: { field: string; message: string; allowed?: string[] | null; line?: number | null; column?: number | null }[];
  problems?: { path: string; message: string; line?: number | null; column?: number | null }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problemText(status, problem));
  }
}

/** One line a person reads: "Unprocessable Content: the list's query is not valid (model: ...)". */
export function problemText(status: number, problem: Problem): string {
  const head = [problem.title, problem.detail].filter(Boolean).join(": ") || `HTTP ${status}`;
  const fields = (problem.errors ?? []).map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
  return fields.length > 0 ? `${head} (${fields.join("; ")})` : head;
}

export type Query = Record<string, string | number | undefined | null>;

export function queryString(query: Query): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const path = (...parts: string[]): string => parts.map(encodeURIComponent).join("/");

export class Api {
  constructor(
    private readonly base: string,
    private readonly token: () => Promise<string | null> | string | null,
    /** Called on a 401 (an expired or revoked token): the console signs the user out. */
    private readonly unauthorized: () => void = () => {},
  ) {}

  async request<T>(method: string, url: string, body?: unknown, type?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = await this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers["Content-Type"] = type ?? "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetch(this.base + url, { method, headers, body: payload });
    } catch {
      throw new ApiError(0, { title: "The API cannot be reached", detail: "check your connection" });
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let answer: unknown = null;
    try {
      answer = text ? JSON.parse(text) : null;
    } catch {
      answer = { detail: text.slice(0, 200) };
    }
    if (!response.ok) {
      if (response.status === 401) this.unauthorized();
      throw new ApiError(response.status, (answer ?? {}) as Problem);
    }
    return answer as T;
  }

  leads(query: Query) {
    return this.request<{ leads: LeadRow[]; next_cursor: string | null }>("GET", `/v1/leads${queryString(query)}`);
  }
  accounts(query: Query) {
    return this.request<{ accounts: AccountRow[]; next_cursor: string | null }>(
      "GET",
      `/v1/accounts${queryString(query)}`,
    );
  }
  lead(email: string) {
    return this.request<Lead>("GET", `/v1/leads/${path(email)}`);
  }
  history(email: string) {
    return this.request<LeadHistory>("GET", `/v1/leads/${path(email)}/history`);
  }
  feedback(email: string, outcome: string, model: string | null) {
    return this.request<{ status: string; outcome: string }>("POST", `/v1/leads/${path(email)}/feedback`, {
      outcome,
      ...(model ? { model } : {}),
    });
  }
  erase(email: string) {
    return this.request<void>("DELETE", `/v1/leads/${path(email)}`);
  }
  account(domain: string) {
    return this.request<AccountScores>("GET", `/v1/accounts/${path(domain)}`);
  }
  models() {
    return this.request<{ models: ModelEntry[] }>("GET", "/v1/models");
  }
  model(id: string) {
    return this.request<Record<string, unknown>>("GET", `/v1/models/${path(id)}`);
  }
  publish(id: string, yaml: string) {
    return this.request<{ id: string; version: number }>("PUT", `/v1/models/${path(id)}`, yaml, "application/yaml");
  }
  rescore(id: string) {
    return this.request<RescoreStarted>("POST", `/v1/models/${path(id)}/rescore`, {});
  }
  progress(id: string, job: string) {
    return this.request<RescoreProgress>("GET", `/v1/models/${path(id)}/rescore/${path(job)}`);
  }
  validate(id: string, yaml: string) {
    return this.request<Validation>("POST", `/v1/models/${path(id)}/validate`, yaml, "application/yaml");
  }
  tryDraft(id: string, yaml: string, email: string) {
    return this.request<TryResult>("POST", `/v1/models/${path(id)}/try`, { document: yaml, email });
  }
  preview(id: string, yaml: string) {
    return this.request<RescoreStarted>("POST", `/v1/models/${path(id)}/preview`, { document: yaml });
  }
  notifications(cursor: string | null) {
    return this.request<{ notifications: Notification[]; next_cursor: string | null }>(
      "GET",
      `/v1/notifications${queryString({ limit: 50, cursor })}`,
    );
  }
}
