/** A model's editor (marketing): the YAML draft, check, try it, preview on all leads, publish, rescore. */
import type { EditorView } from "@codemirror/view";
import { useEffect, useRef, useState } from "preact/hooks";
import { type Api, ApiError } from "../api";
import { Histogram } from "../chart";
import { ErrorBox, Loading } from "../components";
import { useConsole } from "../context";
import { draftText } from "../draft";
import { createEditor, goTo, showProblems } from "../editor";
import { points, score } from "../format";
import { type Placed, placeProblems } from "../problems";
import { RATINGS } from "./queue";
import type { ModelProblem, RescoreProgress, TryResult } from "../types";
import { leadHref } from "../routes";

/** The problems a refused draft carries: the validate route's `problems`, or a 422's `errors`. */
export function problemsOf(error: unknown): ModelProblem[] | null {
  if (!(error instanceof ApiError) || error.status !== 422) return null;
  if (error.problem.problems) {
    return error.problem.problems.map((p) => ({ path: p.path, message: p.message, line: p.line ?? null, column: p.column ?? null }));
  }
  if (error.problem.errors) {
    return error.problem.errors.map((e) => ({ path: e.field, message: e.message, line: e.line ?? null, column: e.column ?? null }));
  }
  return null;
}

/** Polls a rescore job's progress every second until it is completed or incomplete. */
export async function follow(
  api: Api,
  model: string,
  job: string,
  seen: (progress: RescoreProgress) => void,
  stopped: () => boolean,
  pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<RescoreProgress | null> {
  while (!stopped()) {
    const progress = await api.progress(model, job);
    seen(progress);
    if (progress.status === "completed" || progress.status === "incomplete") return progress;
    await pause(1000);
  }
  return null;
}

function ProgressBar({ progress, testid, label }: { progress: RescoreProgress; testid: string; label: string }) {
  const total = Math.max(progress.leads_total, progress.leads_done);
  return (
    <div class="progress">
      <label for={testid}>{label}</label>
      <progress id={testid} max={total || 1} value={progress.leads_done} data-testid={testid} data-status={progress.status} />
      <span role="status">
        {progress.status}: {progress.leads_done} of {total}
        {progress.listing_complete ? "" : "+"} leads
        {progress.status === "completed" && `, ${progress.changed} changed, ${progress.new_mqls} new MQLs, ${progress.lost_mqls} lost`}
        {progress.failures > 0 && `, ${progress.failures} failures`}
      </span>
    </div>
  );
}

// Rows of the rating grid: every rating before, then leads the model had not scored yet.
const BEFORE = [...RATINGS.map((rating) => [rating, rating]), ["none", "not scored before"]];

export function RatingGrid({ ratings }: { ratings: Record<string, Record<string, number>> }) {
  return (
    <div class="scroll" tabIndex={0} role="region" aria-label="Rating transitions, scrollable">
      <table class="grid" data-testid="preview-grid">
        <caption>Rating transitions: rows before, columns after (leads)</caption>
        <thead>
          <tr>
            <th scope="col">before \ after</th>
            {RATINGS.map((to) => (
              <th key={to} scope="col">
                {to}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {BEFORE.map(([from, label]) => (
            <tr key={from} data-testid="preview-grid-row">
              <th scope="row">{label}</th>
              {RATINGS.map((to) => {
                const count = ratings[from]?.[to] ?? 0;
                return (
                  <td key={to} class={count === 0 ? "zero" : from === to ? "same" : "moved"}>
                    {count || ""}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Preview({ progress }: { progress: RescoreProgress }) {
  return (
    <div data-testid="preview-result">
      {progress.scores && <Histogram before={progress.scores.before} after={progress.scores.after} />}
      {progress.ratings && <RatingGrid ratings={progress.ratings} />}
      <div class="columns">
        <section aria-labelledby="became-title">
          <h3 id="became-title">Become MQLs ({progress.new_mqls})</h3>
          <ul data-testid="became-mql">{(progress.became_mql ?? []).map((email) => <li key={email}><a href={leadHref(email)}>{email}</a></li>)}</ul>
        </section>
        <section aria-labelledby="left-title">
          <h3 id="left-title">Stop being MQLs ({progress.lost_mqls})</h3>
          <ul data-testid="left-mql">{(progress.left_mql ?? []).map((email) => <li key={email}><a href={leadHref(email)}>{email}</a></li>)}</ul>
        </section>
      </div>
    </div>
  );
}

function Tried({ result }: { result: TryResult }) {
  // Each rule's reason in words, from the draft's scores, else the current ones.
  const texts = new Map([...(result.before?.reasons ?? []), ...result.after.reasons].map((r) => [r.rule, r.text]));
  return (
    <div data-testid="try-result">
      <p>
        Before: {result.before ? `${score(result.before.score)} (${result.before.rating}, ${result.before.status})` : "not scored"} · After:{" "}
        {score(result.after.score)} ({result.after.rating}, {result.after.status})
      </p>
      <table class="rows">
        <caption>Difference per reason</caption>
        <thead>
          <tr>
            <th scope="col">Reason</th>
            <th scope="col">Difference</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(result.difference).map(([rule, change]) => (
            <tr key={rule} data-testid="try-difference">
              <td data-label="Reason">
                {texts.get(rule) || rule}
                {texts.get(rule) && <span class="muted"> ({rule})</span>}
              </td>
              <td data-label="Difference">{points(change)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ModelPage({ id }: { id: string }) {
  const { api } = useConsole();
  const holder = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const [version, setVersion] = useState<number | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [ready, setReady] = useState(false);
  const [problems, setProblems] = useState<Placed[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [tried, setTried] = useState<TryResult | null>(null);
  const [preview, setPreview] = useState<RescoreProgress | null>(null);
  const [published, setPublished] = useState<number | null>(null);
  const [rescore, setRescore] = useState<RescoreProgress | null>(null);
  const gone = useRef(false);

  useEffect(() => {
    gone.current = false;
    api.model(id).then(
      (document) => {
        if (gone.current || !holder.current) return;
        const { version: current, ...draft } = document;
        setVersion(typeof current === "number" ? current : null);
        view.current = createEditor(holder.current, draftText(draft), `Model ${id} as YAML`);
        setReady(true);
      },
      setLoadError,
    );
    return () => {
      gone.current = true;
      view.current?.destroy();
      view.current = null;
    };
  }, [id]);

  const text = () => view.current?.state.doc.toString() ?? "";
  const show = (found: ModelProblem[]) => {
    const placed = placeProblems(text(), found);
    setProblems(placed);
    if (view.current) showProblems(view.current, placed);
  };

  /** Runs one action; a refused draft's problems go to the editor and the list. */
  const act = async (name: string, action: () => Promise<void>) => {
    setBusy(name);
    setError(null);
    try {
      await action();
    } catch (failure) {
      const found = problemsOf(failure);
      if (found) show(found);
      setError(failure);
    } finally {
      if (!gone.current) setBusy(null);
    }
  };

  const check = () =>
    act("check", async () => {
      const validation = await api.validate(id, text());
      show(validation.problems);
    });

  const tryIt = (event: Event) => {
    event.preventDefault();
    const email = String(new FormData(event.currentTarget as HTMLFormElement).get("email") ?? "").trim();
    return act("try", async () => setTried(await api.tryDraft(id, text(), email)));
  };

  const runPreview = () =>
    act("preview", async () => {
      setPreview(null);
      const job = await api.preview(id, text());
      await follow(api, id, job.job_id, setPreview, () => gone.current);
    });

  const publish = () =>
    act("publish", async () => {
      // The text itself: the API reads it as it reads a draft, its problems at their lines.
      const answer = await api.publish(id, text());
      setPublished(answer.version);
      setVersion(answer.version);
      show([]);
      await rescoreAll();
    });

  /** Every lead rescored with the version just published, its progress followed. */
  const rescoreAll = async () => {
    setRescore(null);
    const job = await api.rescore(id);
    await follow(api, id, job.job_id, setRescore, () => gone.current);
  };

  const runRescore = () => act("rescore", rescoreAll);

  return (
    <section data-testid="page-model" aria-labelledby="model-title">
      <p>
        <a href="#/models">← Models</a>
      </p>
      <h1 id="model-title">
        Model {id} {version !== null && <span class="muted">(version {version})</span>}
      </h1>
      <ErrorBox error={loadError} />
      {!loadError && !ready && <Loading what="the model" />}
      <h2 id="draft-label">Draft (YAML)</h2>
      <div ref={holder} class="editor" data-testid="model-editor" aria-labelledby="draft-label" />
      <div class="buttons">
        <button type="button" onClick={check} disabled={busy !== null} data-testid="model-check">
          {busy === "check" ? "Checking…" : "Check"}
        </button>
        <button type="button" onClick={runPreview} disabled={busy !== null} data-testid="preview">
          {busy === "preview" ? "Previewing…" : "Preview on all leads"}
        </button>
        <button type="button" onClick={publish} disabled={busy !== null} data-testid="publish">
          {busy === "publish" ? "Publishing and rescoring…" : "Publish and rescore"}
        </button>
        {published !== null && (
          <button type="button" onClick={runRescore} disabled={busy !== null} data-testid="rescore">
            {busy === "rescore" ? "Rescoring…" : `Rescore again with version ${published}`}
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      {problems && (
        <section aria-labelledby="problems-title" aria-live="polite">
          <h2 id="problems-title">{problems.length === 0 ? "No problems" : `${problems.length} problem(s)`}</h2>
          <ul class="problems">
            {problems.map((p, index) => (
              <li key={index} data-testid="problem" data-line={p.line}>
                <button type="button" class="link" onClick={() => view.current && goTo(view.current, p.from)}>
                  line {p.line}
                </button>{" "}
                <code>{p.path || "(document)"}</code>: {p.message}
              </li>
            ))}
          </ul>
        </section>
      )}
      {published !== null && (
        <p role="status" class="ok" data-testid="published">
          Published version {published}: new events score with it at once; every lead is rescored with it (progress below).
        </p>
      )}
      {rescore && <ProgressBar progress={rescore} testid="rescore-progress" label="Rescore" />}
      <section class="card" aria-labelledby="try-title">
        <h2 id="try-title">Try it on a lead</h2>
        <form onSubmit={tryIt} class="inline">
          <label for="try-email">Lead's email</label>
          <input id="try-email" name="email" type="email" required data-testid="try-email" />
          <button type="submit" disabled={busy !== null} data-testid="try">
            {busy === "try" ? "Scoring…" : "Try it"}
          </button>
        </form>
        {tried && <Tried result={tried} />}
      </section>
      <section class="card" aria-labelledby="preview-title">
        <h2 id="preview-title">Preview on all leads</h2>
        {!preview && <p>A dry run of the draft on every lead: nothing is written.</p>}
        {preview && <ProgressBar progress={preview} testid="preview-progress" label="Preview" />}
        {preview?.status === "completed" && <Preview progress={preview} />}
      </section>
    </section>
  );
}
