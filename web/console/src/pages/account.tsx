/** An account: its score per model, the parts that make it, and its people's contributions. */
import { ErrorBox, Loading, useLoad } from "../components";
import { useConsole } from "../context";
import { dateTime, display, points, score } from "../format";
import { leadHref } from "../routes";
import type { AccountScore } from "../types";

function Parts({ parts }: { parts: Record<string, number> }) {
  return (
    <ul class="parts">
      {Object.entries(parts).map(([part, value]) => (
        <li key={part}>
          {part}: {points(value, false)}
        </li>
      ))}
    </ul>
  );
}

function AccountModel({ model }: { model: AccountScore }) {
  return (
    <section class="card" aria-labelledby={`account-${model.model}`} data-testid="account-score">
      <h2 id={`account-${model.model}`}>
        Model {model.model} <span class="muted">(version {model.model_version})</span>
      </h2>
      <dl class="facts">
        <dt>Score</dt>
        <dd>{score(model.score)}</dd>
        <dt>Rating</dt>
        <dd>{model.rating}</dd>
        <dt>Status</dt>
        <dd>{model.status === "mqa" ? `MQA since ${dateTime(model.mqa_since)}` : "open"}</dd>
        <dt>Engaged people</dt>
        <dd>{model.engaged_people}</dd>
        <dt>Roles</dt>
        <dd>{model.roles.join(", ") || "—"}</dd>
      </dl>
      <h3>Parts</h3>
      <Parts parts={model.parts} />
      <table class="rows">
        <caption>People and their contributions</caption>
        <thead>
          <tr>
            <th scope="col">Person</th>
            <th scope="col">Job title</th>
            <th scope="col">Role</th>
            <th scope="col">Points</th>
            <th scope="col">Parts</th>
            <th scope="col">Engaged</th>
          </tr>
        </thead>
        <tbody>
          {model.people.map((person, index) => (
            <tr key={person.email ?? index} data-testid="account-person">
              <td data-label="Person">{person.email ? <a href={leadHref(person.email)}>{person.name || person.email}</a> : "(erased)"}</td>
              <td data-label="Job title">{display(person.job_title)}</td>
              <td data-label="Role">{person.role ?? "—"}</td>
              <td data-label="Points">{points(person.points, false)}</td>
              <td data-label="Parts">
                <Parts parts={person.parts} />
              </td>
              <td data-label="Engaged">{person.engaged ? "yes" : "no"}{person.counted ? "" : " (not counted)"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function AccountPage({ domain }: { domain: string }) {
  const { api } = useConsole();
  const loaded = useLoad(() => api.account(domain), [domain]);
  return (
    <section data-testid="page-account" aria-labelledby="account-title">
      <p>
        <a href="#/queue">← Queue</a>
      </p>
      <h1 id="account-title">{domain}</h1>
      <ErrorBox error={loaded.error} />
      {loaded.loading && !loaded.value && <Loading what="the account" />}
      {loaded.value?.scores.length === 0 && <p>No model scores this account.</p>}
      {loaded.value?.scores.map((model) => <AccountModel key={model.model} model={model} />)}
    </section>
  );
}
