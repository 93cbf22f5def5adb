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
        change("2025-01-06T10:00:00Z", 0, { event_type: "email_click", rule: "engagement.email_click", machine: "click_at_delivery" }),
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
      mql_threshold: 60,
      reset_threshold: 45,
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
    return undefined;
  });
}

describe("the score over time", () => {
  it("ends at the score, in time order, and marks MQL, cooling and decay at the lead's thresholds", () => {
    const series = scoreSeries(HISTORY.history[0], LEAD.scores[0]);
    assert.deepEqual(series.scores, [20, 50, 65, 65, 65, 65, 43, 58]);
    assert.deepEqual(series.times, series.times.slice().sort((a, b) => a - b));
    assert.equal(series.times[0], Date.parse("2025-01-01T10:00:00Z") / 1000);
    assert.deepEqual(
      series.marks.map((m) => [m.kind, m.score]),
      [["mql", 65], ["cooled", 43], ["decay", 43]],
    );
  });

  it("walks back from the score when older history has expired", () => {
    // 12 points came from changes no longer kept: a sum from 0 would end at 58, not 70.
    const series = scoreSeries(HISTORY.history[0], { ...LEAD.scores[0], score: 70, mql_threshold: 55, reset_threshold: 40 });
    assert.deepEqual(series.scores, [32, 62, 77, 77, 77, 77, 55, 70]);
    assert.deepEqual(series.marks.map((m) => [m.kind, m.score, m.label]), [
      ["mql", 62, "MQL: reached 55"],
      ["decay", 55, "decay -22 pts"],
    ]);
  });

  it("starts as an MQL when the lead was one before the history kept", () => {
    const history = {
      model: "default",
      points: -7,
      changes: [
        change("2025-01-01T10:00:00Z", 5),
        change("2025-01-10T10:00:00Z", -15, { kind: "decay", event_type: null, rule: null }),
        change("2025-01-11T10:00:00Z", 3),
      ],
    };
    const lead = { ...LEAD.scores[0], score: 50, status: "mql" as const, mql_since: "2024-12-01T10:00:00Z" };
    const series = scoreSeries(history, lead);
    assert.deepEqual(series.scores, [62, 47, 50]);
    assert.deepEqual(series.marks.map((m) => m.kind), ["decay"], "no MQL mark at 62: an MQL since December");
    const open = scoreSeries(history, { ...lead, status: "open", mql_since: null });
    assert.deepEqual(open.marks.map((m) => [m.kind, m.score]), [["mql", 62], ["decay", 47]]);
  });

  it("marks the MQL date of the score when it carries no thresholds", () => {
    const { mql_threshold, reset_threshold, ...older } = LEAD.scores[0];
    const series = scoreSeries(HISTORY.history[0], { ...older, mql_since: "2025-01-03T10:00:00Z" });
    assert.deepEqual(series.marks.map((m) => [m.kind, m.score]), [["mql", 65], ["decay", 43]]);
  });

  it("says why an event earned nothing", () => {
    const [, , , limited, allowance, machine] = HISTORY.history[0].changes;
    assert.match(changeWhy(limited), /^limited/);
    assert.equal(changeWhy(allowance), "over the hourly allowance of untrusted events");
    assert.equal(changeWhy(machine), "machine activity: clicked within 10 s of delivery (a scanner)", "not the rule it matched");
  });

  it("words each machine reason the engine gives", () => {
    const why = (machine: string) => changeWhy(change("2025-01-06T10:00:00Z", 0, { machine }));
    assert.equal(why("apple_mpp"), "machine activity: Apple Mail Privacy Protection fetched the images");
    assert.equal(why("provider_flag:sg_machine_open"), "machine activity: SendGrid flagged a machine open (Apple Mail Privacy Protection)");
    assert.equal(why("provider_flag:mailgun_bot:apple"), "machine activity: Mailgun's bot detection flagged it (apple)");
    assert.equal(why("provider_flag:proxy_open"), "machine activity: Brevo reported a privacy proxy's open");
    assert.equal(why("provider_flag:acme_gateway"), "machine activity: the email provider flagged a machine (acme_gateway)");
    assert.equal(why("provider_flag"), "machine activity: flagged as a machine's by your systems");
    assert.equal(why("user_agent:mimecast"), "machine activity: the user agent names a scanner or bot (mimecast)");
    assert.equal(why("open_at_delivery"), "machine activity: opened within 10 s of delivery (a scanner)");
    assert.equal(why("click_burst"), "machine activity: another link of the message clicked within 1 s (a scanner)");
    assert.equal(why("click_before_open"), "machine activity: clicked within a minute of delivery, before any open (a scanner)");
    assert.equal(why("our gateway"), "machine activity: our gateway", "a reason of the user's own system as given");
    assert.equal(why("constructor"), "machine activity: constructor");
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
    assert.ok(byTestId("mark-mql") && byTestId("mark-cooled"), "sales sees the MQL and cooled marks");
    const timeline = allByTestId("timeline-row").map((r) => r.textContent ?? "");
    assert.equal(timeline.length, 8);
    assert.match(timeline[2], /email_click\+?0 ptsmachine activity: clicked within 10 s of delivery/);
    assert.match(timeline[3], /over the hourly allowance/);
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
    assert.ok(byTestId("mark-mql"));
    assert.ok(!sent.some((r) => r.url.startsWith("/v1/models")), "the thresholds come with the lead");
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
