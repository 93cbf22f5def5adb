/** The queue: MQLs by follow-up deadline (overdue first), leads by score, accounts by score. */
import { useEffect, useState } from "preact/hooks";
import { ApiError, type Query } from "../api";
import { isMarketing } from "../auth";
import { ErrorBox, Loading, useLoad } from "../components";
import { useConsole } from "../context";
import { deadline, score } from "../format";
import { knownModels, rememberModels } from "../models";
import { accountHref, leadHref } from "../routes";
import type { AccountRow, LeadRow } from "../types";

type Tab = "mql" | "leads" | "accounts";

const TABS: { id: Tab; label: string }[] = [
  { id: "mql", label: "MQL queue" },
  { id: "leads", label: "Leads by score" },
  { id: "accounts", label: "Accounts by score" },
];

export const RATINGS = ["A", "B", "C", "D"].flatMap((grade) => [1, 2, 3, 4].map((level) => `${grade}${level}`));

interface Filters {
  model: string;
  rating: string;
  owner: string;
  status: string;
}

const NO_FILTERS: Filters = { model: "", rating: "", owner: "", status: "" };

/** The list request of a tab and its filters. */
export function listQuery(tab: Tab, filters: Filters, cursor: string | null): Query {
  const common = { model: filters.model, rating: filters.rating, limit: 50, cursor };
  if (tab === "mql") return { ...common, status: "mql", sort: "sla_due_at", owner: filters.owner };
  if (tab === "leads") return { ...common, status: filters.status, sort: "-score", owner: filters.owner };
  return { ...common, status: filters.status, sort: "-score" };
}

/** The model to list when none was named and several exist: the API's 422 names the models
 * a list can take (`allowed`); `default` if it is one, else the first. */
export function modelChoice(error: unknown): { chosen: string; allowed: string[] } | null {
  if (!(error instanceof ApiError) || error.status !== 422) return null;
  const refused = (error.problem.errors ?? []).find((e) => e.field === "model");
  const allowed = refused?.allowed ?? [];
  if (allowed.length === 0) return null;
  return { chosen: allowed.includes("default") ? "default" : allowed[0], allowed };
}

/** Overdue MQLs first (the API already sorts so; pages appended keep it), order kept otherwise. */
export function overdueFirst(rows: LeadRow[], now = Date.now()): LeadRow[] {
  const overdue = (row: LeadRow) => (deadline(row.sla_due_at, now)?.overdue ? 0 : 1);
  return rows.map((row, index) => ({ row, index })).sort((a, b) => overdue(a.row) - overdue(b.row) || a.index - b.index).map((x) => x.row);
}

/** A click anywhere on a row opens the lead (its link stays the keyboard's way in). */
function openRow(event: MouseEvent, email: string | null): void {
  if (email && !(event.target as Element).closest("a, button")) location.hash = leadHref(email);
}

export function LeadRows({ rows, queue, now = Date.now() }: { rows: LeadRow[]; queue: boolean; now?: number }) {
  return (
    <table class="rows">
      <caption class="visually-hidden">{queue ? "MQLs by follow-up deadline, overdue first" : "Leads by score"}</caption>
      <thead>
        <tr>
          <th scope="col">Lead</th>
          <th scope="col">Company</th>
          <th scope="col">Owner</th>
          <th scope="col">Score</th>
          <th scope="col">Rating</th>
          <th scope="col">Status</th>
          <th scope="col">Follow-up</th>
        </tr>
      </thead>
      <tbody>
        {(queue ? overdueFirst(rows, now) : rows).map((row, index) => {
          const due = deadline(row.sla_due_at, now);
          return (
            <tr
              key={row.email ?? index}
              class={due?.overdue ? "overdue" : undefined}
              data-testid="queue-row"
              data-overdue={due?.overdue ? "true" : "false"}
              onClick={(event) => openRow(event, row.email)}
            >
              <td data-label="Lead">
                {row.email ? <a href={leadHref(row.email)}>{row.name || row.email}</a> : row.name || "(erased)"}
                {row.name && row.email && <div class="muted">{row.email}</div>}
              </td>
              <td data-label="Company">{row.account ? <a href={accountHref(row.account)}>{row.company || row.account}</a> : row.company || "—"}</td>
              <td data-label="Owner">{row.owner || "—"}</td>
              <td data-label="Score">{score(row.score)}</td>
              <td data-label="Rating">{row.rating}</td>
              <td data-label="Status">{row.status === "mql" ? "MQL" : "open"}</td>
              <td data-label="Follow-up">
                {due ? (
                  <span class={due.overdue ? "badge badge-overdue" : "badge"} data-testid={due.overdue ? "overdue" : "due"}>
                    {due.overdue ? "⚠ " : ""}
                    {due.text}
                  </span>
                ) : (
                  "—"
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function AccountRows({ rows }: { rows: AccountRow[] }) {
  return (
    <table class="rows">
      <caption class="visually-hidden">Accounts by score</caption>
      <thead>
        <tr>
          <th scope="col">Account</th>
          <th scope="col">Score</th>
          <th scope="col">Rating</th>
          <th scope="col">Status</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.account} data-testid="account-row">
            <td data-label="Account">
              <a href={accountHref(row.account)}>{row.account}</a>
            </td>
            <td data-label="Score">{score(row.score)}</td>
            <td data-label="Rating">{row.rating}</td>
            <td data-label="Status">{row.status === "mqa" ? "MQA" : "open"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function QueuePage() {
  const { api, session } = useConsole();
  const [tab, setTab] = useState<Tab>("mql");
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [rows, setRows] = useState<(LeadRow | AccountRow)[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [more, setMore] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: null });
  const models = useLoad(() => knownModels(api, isMarketing(session)).catch(() => []), []);

  const first = useLoad(async () => {
    const query = listQuery(tab, filters, null);
    try {
      return await (tab === "accounts"
        ? api.accounts(query).then((page) => ({ rows: page.accounts as (LeadRow | AccountRow)[], next: page.next_cursor }))
        : api.leads(query).then((page) => ({ rows: page.leads as (LeadRow | AccountRow)[], next: page.next_cursor })));
    } catch (error) {
      const choice = filters.model ? null : modelChoice(error);
      if (!choice) throw error;
      rememberModels(choice.allowed); // offered in the model filter from now on
      setFilters({ ...filters, model: choice.chosen }); // listed again, with it
      return { rows: [] as (LeadRow | AccountRow)[], next: null };
    }
  }, [tab, filters]);

  useEffect(() => {
    setRows(first.value?.rows ?? []);
    setCursor(first.value?.next ?? null);
  }, [first.value]);

  const loadMore = async () => {
    if (!cursor) return;
    setMore({ busy: true, error: null });
    try {
      const query = listQuery(tab, filters, cursor);
      const page =
        tab === "accounts"
          ? await api.accounts(query).then((p) => ({ rows: p.accounts, next: p.next_cursor }))
          : await api.leads(query).then((p) => ({ rows: p.leads, next: p.next_cursor }));
      setRows((before) => [...before, ...page.rows]);
      setCursor(page.next);
      setMore({ busy: false, error: null });
    } catch (error) {
      setMore({ busy: false, error });
    }
  };

  const apply = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const value = (name: string) => String(form.get(name) ?? "").trim();
    setFilters({ model: value("model"), rating: value("rating"), owner: value("owner"), status: value("status") });
  };

  const onTabKey = (event: KeyboardEvent) => {
    const index = TABS.findIndex((t) => t.id === tab);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = TABS[(index + step + TABS.length) % TABS.length];
    setTab(next.id);
    document.getElementById(`tab-${next.id}`)?.focus();
  };

  return (
    <section data-testid="page-queue" aria-labelledby="queue-title">
      <h1 id="queue-title">Queue</h1>
      <div role="tablist" aria-label="Lists" class="tabs" onKeyDown={onTabKey}>
        {TABS.map((t) => (
          <button
            key={t.id}
            id={`tab-${t.id}`}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            aria-controls="queue-panel"
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
            data-testid={`tab-${t.id}`}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div id="queue-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        <form class="filters" onSubmit={apply} aria-label="Filters">
          <div class="field">
            <label for="filter-model">Model</label>
            <input key={filters.model} id="filter-model" name="model" list="known-models" placeholder="the only model" defaultValue={filters.model} data-testid="filter-model" />
            <datalist id="known-models">
              {(models.value ?? []).map((id) => (
                <option key={id} value={id} />
              ))}
            </datalist>
          </div>
          <div class="field">
            <label for="filter-rating">Rating</label>
            <select id="filter-rating" name="rating" defaultValue={filters.rating} data-testid="filter-rating">
              <option value="">any</option>
              {RATINGS.map((rating) => (
                <option key={rating} value={rating}>
                  {rating}
                </option>
              ))}
            </select>
          </div>
          {tab !== "accounts" && (
            <div class="field">
              <label for="filter-owner">Owner</label>
              <input id="filter-owner" name="owner" type="email" placeholder="anyone" defaultValue={filters.owner} data-testid="filter-owner" />
            </div>
          )}
          <div class="field">
            <label for="filter-status">Status</label>
            <select
              key={tab}
              id="filter-status"
              name="status"
              {...(tab === "mql" ? { value: "mql", disabled: true } : { defaultValue: filters.status })}
              data-testid="filter-status"
            >
              <option value="">any</option>
              {tab === "accounts" ? <option value="mqa">MQA</option> : <option value="mql">MQL</option>}
              <option value="open">open</option>
            </select>
          </div>
          <button type="submit" data-testid="filter-apply">
            Show
          </button>
        </form>
        <ErrorBox error={first.error} />
        {first.loading && rows.length === 0 ? (
          <Loading what="the list" />
        ) : rows.length === 0 && !first.error ? (
          <p data-testid="empty">{tab === "mql" ? "No MQL waits for follow-up." : "Nothing matches."}</p>
        ) : tab === "accounts" ? (
          <AccountRows rows={rows as AccountRow[]} />
        ) : (
          <LeadRows rows={rows as LeadRow[]} queue={tab === "mql"} />
        )}
        <ErrorBox error={more.error} />
        {cursor && (
          <button type="button" onClick={loadMore} disabled={more.busy} data-testid="more">
            {more.busy ? "Loading…" : "More"}
          </button>
        )}
      </div>
    </section>
  );
}
