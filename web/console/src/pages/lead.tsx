/** A lead: profile with sources, scores with reasons, the score over time, the timeline, feedback, erasure. */
import { useState } from "preact/hooks";
import type { Api } from "../api";
import { isMarketing } from "../auth";
import { ScoreChart } from "../chart";
import { Dialog, ErrorBox, Loading, useLoad } from "../components";
import { useConsole } from "../context";
import { dateTime, deadline, display, points, score } from "../format";
import { changeWhy, scoreSeries, thresholdsOf } from "../history";
import { rememberModels } from "../models";
import { accountHref } from "../routes";
import type { Lead, LeadHistory, LeadScore, ModelHistory } from "../types";

export const OUTCOMES = ["accepted", "rejected", "won", "lost"] as const;

interface LeadData {
  lead: Lead;
  history: LeadHistory;
}

/** The lead (each score with its model's thresholds) and its history. */
export async function loadLead(api: Api, email: string): Promise<LeadData> {
  const [lead, history] = await Promise.all([api.lead(email), api.history(email)]);
  rememberModels(lead.scores.map((s) => s.model));
  return { lead, history };
}

function Profile({ lead }: { lead: Lead }) {
  const fields = Object.entries(lead.profile ?? {});
  if (fields.length === 0) return <p>No profile fields.</p>;
  return (
    <table class="profile" data-testid="profile">
      <caption>Profile</caption>
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Value</th>
          <th scope="col">Source</th>
        </tr>
      </thead>
      <tbody>
        {fields.map(([field, value]) => (
          <tr key={field} data-testid="profile-field">
            <th scope="row">{field}</th>
            <td>{display(value)}</td>
            <td>{lead.profile_sources?.[field] ?? "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Timeline({ history }: { history: ModelHistory }) {
  const changes = [...history.changes].reverse();
  return (
    <table class="timeline" data-testid="timeline">
      <caption>Timeline ({history.changes.length} changes, newest first)</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">What</th>
          <th scope="col">Points</th>
          <th scope="col">Rule, or why none</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((change, index) => (
          <tr key={`${change.event_id ?? change.kind}-${index}`} data-testid="timeline-row">
            <td>{dateTime(change.at)}</td>
            <td>{change.event_type ?? change.kind}</td>
            <td>{points(change.points)}</td>
            <td>{changeWhy(change)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ModelScore({ model, history }: { model: LeadScore; history: ModelHistory | undefined }) {
  const due = model.status === "mql" ? deadline(model.sla_due_at) : null;
  return (
    <section class="card" aria-labelledby={`model-${model.model}`} data-testid="lead-score">
      <h2 id={`model-${model.model}`}>
        Model {model.model} <span class="muted">(version {model.model_version})</span>
      </h2>
      <dl class="facts">
        <dt>Score</dt>
        <dd data-testid="score">{score(model.score)}</dd>
        <dt>Rating</dt>
        <dd data-testid="rating">{model.rating}</dd>
        <dt>Status</dt>
        <dd data-testid="status">
          {model.status === "mql" ? `MQL since ${dateTime(model.mql_since)}` : "open"}
          {due && (
            <span class={due.overdue ? "badge badge-overdue" : "badge"}>
              {due.overdue ? "⚠ " : ""}
              {due.text}
            </span>
          )}
        </dd>
        <dt>Fit</dt>
        <dd>{score(model.fit)}</dd>
        <dt>Engagement</dt>
        <dd>{score(model.engagement)}</dd>
      </dl>
      <h3>Why this score</h3>
      <ul class="reasons">
        {model.reasons.map((reason) => (
          <li key={reason.rule} data-testid="reason" data-rule={reason.rule}>
            <span class="points">{points(reason.points)}</span> {reason.text || reason.rule}
            {reason.text && <span class="muted"> ({reason.rule})</span>}
          </li>
        ))}
      </ul>
      {history && (
        <>
          <h3>Score over time</h3>
          <ScoreChart series={scoreSeries(history, model)} thresholds={thresholdsOf(model)} label={`Score of model ${model.model} over time`} />
          <Timeline history={history} />
        </>
      )}
    </section>
  );
}

function Feedback({ lead }: { lead: Lead }) {
  const { api } = useConsole();
  const [model, setModel] = useState(lead.scores[0]?.model ?? "");
  const [result, setResult] = useState<{ text: string; error: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  const give = async (outcome: string) => {
    setBusy(true);
    try {
      const answer = await api.feedback(lead.email, outcome, model || null);
      setResult({ text: `Feedback recorded: ${answer.outcome}.`, error: false });
    } catch (error) {
      setResult({ text: error instanceof Error ? error.message : String(error), error: true });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="feedback-title">
      <h2 id="feedback-title">Sales feedback</h2>
      <p>Last recorded: {lead.feedback ?? "none"}</p>
      {lead.scores.length > 1 && (
        <p>
          <label for="feedback-model">About model</label>{" "}
          <select id="feedback-model" value={model} onChange={(e) => setModel((e.currentTarget as HTMLSelectElement).value)}>
            {lead.scores.map((s) => (
              <option key={s.model} value={s.model}>
                {s.model}
              </option>
            ))}
          </select>
        </p>
      )}
      <div class="buttons" role="group" aria-label="Outcome">
        {OUTCOMES.map((outcome) => (
          <button key={outcome} type="button" disabled={busy} onClick={() => give(outcome)} data-testid={`feedback-${outcome}`}>
            {outcome[0].toUpperCase() + outcome.slice(1)}
          </button>
        ))}
      </div>
      {result && (
        <p class={result.error ? "error" : "ok"} role={result.error ? "alert" : "status"} data-testid="feedback-result">
          {result.text}
        </p>
      )}
    </section>
  );
}

function Erase({ email, onErased }: { email: string; onErased: () => void }) {
  const { api } = useConsole();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const erase = async () => {
    try {
      await api.erase(email);
      setOpen(false);
      onErased();
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section class="card danger" aria-labelledby="erase-title">
      <h2 id="erase-title">Erasure</h2>
      <button type="button" class="danger" onClick={() => setOpen(true)} data-testid="erase">
        Erase this lead…
      </button>
      {open && (
        <Dialog title="Erase this lead?" onCancel={() => setOpen(false)} testid="erase-dialog">
          <p>
            Everything about {email} is deleted: profile, events, scores and history. This cannot be undone.
          </p>
          <ErrorBox error={error} />
          <div class="buttons">
            <button type="button" onClick={() => setOpen(false)} data-testid="erase-cancel">
              Cancel
            </button>
            <button type="button" class="danger" onClick={erase} data-testid="erase-confirm">
              Erase
            </button>
          </div>
        </Dialog>
      )}
    </section>
  );
}

export function LeadPage({ email }: { email: string }) {
  const { api, session } = useConsole();
  const marketing = isMarketing(session);
  const loaded = useLoad(() => loadLead(api, email), [email]);
  const [erased, setErased] = useState(false);

  if (erased) {
    return (
      <section data-testid="page-lead">
        <h1>{email}</h1>
        <p role="status" data-testid="erased">
          The lead was erased. <a href="#/queue">Back to the queue</a>
        </p>
      </section>
    );
  }
  return (
    <section data-testid="page-lead" aria-labelledby="lead-title">
      <p>
        <a href="#/queue">← Queue</a>
      </p>
      <h1 id="lead-title">{email}</h1>
      <ErrorBox error={loaded.error} />
      {loaded.loading && !loaded.value && <Loading what="the lead" />}
      {loaded.value && (
        <>
          <p>
            Account: {loaded.value.lead.account ? <a href={accountHref(loaded.value.lead.account)}>{loaded.value.lead.account}</a> : "none (personal email)"}
            {loaded.value.lead.flags.length > 0 && <> · Flags: {loaded.value.lead.flags.join(", ")}</>}
          </p>
          <Profile lead={loaded.value.lead} />
          {loaded.value.lead.scores.map((model) => (
            <ModelScore
              key={model.model}
              model={model}
              history={loaded.value?.history.history.find((h) => h.model === model.model)}
            />
          ))}
          <Feedback lead={loaded.value.lead} />
          {marketing && <Erase email={email} onErased={() => setErased(true)} />}
        </>
      )}
    </section>
  );
}
