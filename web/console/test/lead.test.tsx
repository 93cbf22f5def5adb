/** The lead page: reasons in words, the chart's data from the history, the timeline, feedback, erasure. */
import { allByTestId, byTestId, click, fakeFetch, MARKETING, SALES, settle } from "./dom.ts";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changeWhy, scoreSeries } from "../src/history.ts";
import { LeadPage } from "../src/pages/lead.tsx";
import type { Lead, LeadHistory, ScoreChange } from "../src/types.ts";
import { mount, unmount } from "./mount.tsx";

function change(at: string, points: number, extra: Partial<ScoreChange> = {}): ScoreChange {
  return { kind: "event", event_id: `e-${at}`, event_type: "page_view", at, points, rule: "engagement.pricing_page", limited: false, rules: [], ...extra };
}

const HISTORY: LeadHistory = {
  email: "jane@acme.com",
  history: [
    {
      model: "default",
      points: 58,
      changes: [
        // Out of order on purpose: the series is in time order.
        change("2025-01-02T10:00:00Z", 30, { kind: "profile", event_type: null, rule: null }),
        change("2025-01-01T10:00:00Z", 20, { kind: "profile", event_type: "form_submit", rule: null }),
        change("2025-01-03T10:00:00Z", 15),
        change("2025-01-04T10:00:00Z", 0, { limited: true }),
        change("2025-01-05T10:00:00Z", 0, { over_hourly_allowance: true, rule: null }),
        change("2025-01-10T10:00:00Z", -22, { kind: "decay", event_type: null, rule: null }),
        change("2025-01-11T10:00:00Z", 15),
      ],
    },
  ],
};

const LEAD: Lead = {
  email: "jane@acme.com",
  profile: { job_title: "CTO", company: "Acme" },
  profile_sources: { job_title: "your systems", company: "form" },
  account: "acme.com",
  flags: [],
  feedback: null,
  scores: [
    {
      model: "default",
      model_version: 2,
      score: 58,
      fit: 60,
      engagement: 50,
      grade: "B",
      engagement_level: 2,
      rating: "B2",
      status: "open",
      mql_since: null,
      sla_due_at: null,
      last_activity_at: null,
      reasons: [
        { rule: "fit.role.cto", points: 30, count: 1, text: "Job title CTO: executive" },
        { rule: "engagement.pricing_page", points: 30, count: 2, text: "Visited the pricing page twice" },
        { rule: "decay", points: -2, count: 0 },
      ],
    },
  ],
};

function api(outcomes: string[] = []) {
  return fakeFetch((request) => {
    if (request.url === "/v1/leads/jane%40acme.com") return request.method === "DELETE" ? { status: 204 } : { body: LEAD };
    if (request.url === "/v1/leads/jane%40acme.com/history") return { body: HISTORY };
    if (request.url === "/v1/leads/jane%40acme.com/feedback") {
      outcomes.push(JSON.parse(request.body ?? "").outcome);
      return { status: 202, body: { status: "recorded", outcome: outcomes[outcomes.length - 1] } };
    }
    if (request.url === "/v1/models/default") return { body: { id: "default", thresholds: { mql: 60, reset: 45 } } };
    return undefined;
  });
}

describe("the score over time", () => {
  it("adds the changes up in time order and marks MQL, cooling and decay", () => {
    const series = scoreSeries(HISTORY.history[0], { mql: 60, reset: 45 });
    assert.deepEqual(series.scores, [20, 50, 65, 65, 65, 43, 58]);
    assert.deepEqual(series.times, series.times.slice().sort((a, b) => a - b));
    assert.equal(series.times[0], Date.parse("2025-01-01T10:00:00Z") / 1000);
    assert.deepEqual(
      series.marks.map((m) => [m.kind, m.score]),
      [["mql", 65], ["cooled", 43], ["decay", 43]],
    );
  });

  it("marks the MQL date of the score when the model's thresholds cannot be read", () => {
    const series = scoreSeries(HISTORY.history[0], null, { ...LEAD.scores[0], mql_since: "2025-01-03T10:00:00Z" });
    assert.deepEqual(series.marks.map((m) => [m.kind, m.score]), [["mql", 65], ["decay", 43]]);
  });

  it("says why an event earned nothing", () => {
    const [, , , limited, allowance] = HISTORY.history[0].changes;
    assert.match(changeWhy(limited), /^limited/);
    assert.equal(changeWhy(allowance), "over the hourly allowance of untrusted events");
  });
});

describe("the lead page", () => {
  it("shows the profile's sources, the reasons in words and the timeline", async () => {
    api();
    const root = mount(<LeadPage email="jane@acme.com" />, SALES);
    await settle();
    assert.ok(byTestId("page-lead"));
    const reasons = allByTestId("reason").map((r) => r.textContent);
    assert.match(reasons[0] ?? "", /\+30 pts Job title CTO: executive/);
    assert.match(reasons[1] ?? "", /Visited the pricing page twice/);
    assert.match(reasons[2] ?? "", /-2 pts decay$/, "the rule id when there is no text");
    const fields = allByTestId("profile-field").map((r) => [...r.children].map((c) => c.textContent));
    assert.deepEqual(fields, [["job_title", "CTO", "your systems"], ["company", "Acme", "form"]]);
    assert.ok(byTestId("score-chart"));
    const timeline = allByTestId("timeline-row").map((r) => r.textContent ?? "");
    assert.equal(timeline.length, 7);
    assert.match(timeline[2], /over the hourly allowance/);
    assert.equal(byTestId("erase"), null, "sales cannot erase");
    unmount(root);
  });

  it("records feedback and shows the answer", async () => {
    const outcomes: string[] = [];
    api(outcomes);
    const root = mount(<LeadPage email="jane@acme.com" />, SALES);
    await settle();
    click(byTestId("feedback-accepted"));
    await settle();
    assert.deepEqual(outcomes, ["accepted"]);
    assert.equal(byTestId("feedback-result")?.textContent, "Feedback recorded: accepted.");
    for (const outcome of ["rejected", "won", "lost"]) assert.ok(byTestId(`feedback-${outcome}`));
    unmount(root);
  });

  it("lets marketing erase after a confirmation that Escape closes", async () => {
    const sent = api();
    const root = mount(<LeadPage email="jane@acme.com" />, MARKETING);
    await settle();
    assert.ok(byTestId("mark-mql"), "marketing reads the thresholds: the MQL mark");
    click(byTestId("erase"));
    await settle();
    const dialog = byTestId("erase-dialog");
    assert.equal(dialog?.getAttribute("role"), "dialog");
    assert.equal(document.activeElement, byTestId("erase-cancel"), "focus moves into the dialog");
    dialog?.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    await settle();
    assert.equal(byTestId("erase-dialog"), null);
    assert.equal(sent.filter((r) => r.method === "DELETE").length, 0);
    click(byTestId("erase"));
    await settle();
    click(byTestId("erase-confirm"));
    await settle();
    assert.equal(sent.filter((r) => r.method === "DELETE").length, 1);
    assert.ok(byTestId("erased"));
    unmount(root);
  });
});
