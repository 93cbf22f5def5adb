/** The model editor's glue: problems placed at their line (by line, or by path), 422s read, progress followed. */
import { fakeFetch } from "./dom.ts";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Api, ApiError } from "../src/api.ts";
import { draftDocument, draftText } from "../src/draft.ts";

const readDraft = (text: string): unknown => draftDocument(text).toJS();
import { diagnostics } from "../src/editor.ts";
import { follow, problemsOf } from "../src/pages/model.tsx";
import { pathParts, placeProblems } from "../src/problems.ts";

const YAML = [
  "id: default", // 1
  "name: Default",
  "engagement:",
  "  rules:",
  "    - id: pricing", // 5
  "      points: 10",
  "    - id: blog",
  "      points: nope", // 8
  "thresholds:",
  "  mql: 60", // 10
  "  reset: 75",
  "",
].join("\n");

const lineOf = (offset: number) => YAML.slice(0, offset).split("\n").length;

describe("problems at their line", () => {
  it("reads a path into its parts", () => {
    assert.deepEqual(pathParts("engagement.rules[1].points"), ["engagement", "rules", 1, "points"]);
  });

  it("uses the API's line and column", () => {
    const [placed] = placeProblems(YAML, [{ path: "thresholds.reset", message: "reset (75) must be below mql (60)", line: 11, column: 3 }]);
    assert.equal(placed.line, 11);
    assert.equal(YAML.slice(placed.from, placed.to), "reset: 75");
  });

  it("finds the path in the text when the API gives no line", () => {
    const placed = placeProblems(YAML, [
      { path: "engagement.rules[1].points", message: "not a number", line: null, column: null },
      { path: "thresholds.reset", message: "too high", line: null, column: null },
      { path: "", message: "the document", line: null, column: null },
    ]);
    assert.deepEqual(placed.map((p) => p.line), [8, 11, 1]);
    assert.equal(lineOf(placed[0].from), 8);
    assert.equal(YAML.slice(placed[0].from, placed[0].to), "nope");
  });

  it("becomes lint diagnostics naming the path", () => {
    const placed = placeProblems(YAML, [{ path: "thresholds.reset", message: "too high", line: 11, column: 1 }]);
    assert.deepEqual(diagnostics(placed), [{ from: placed[0].from, to: placed[0].to, severity: "error", message: "thresholds.reset: too high" }]);
  });

  it("reads the problems of a refused draft (422 with problems or errors)", () => {
    const withProblems = new ApiError(422, { problems: [{ path: "a.b", message: "m", line: 2, column: null }] });
    assert.deepEqual(problemsOf(withProblems), [{ path: "a.b", message: "m", line: 2, column: null }]);
    const withErrors = new ApiError(422, { title: "x", errors: [{ field: "fit.categories", message: "sum" }] });
    assert.deepEqual(problemsOf(withErrors), [{ path: "fit.categories", message: "sum", line: null, column: null }]);
    const placed = new ApiError(422, { errors: [{ field: "thresholds.reset", message: "too high", line: 11, column: 3 }] });
    assert.deepEqual(problemsOf(placed), [{ path: "thresholds.reset", message: "too high", line: 11, column: 3 }]);
    assert.equal(problemsOf(new ApiError(409, { title: "Conflict" })), null);
  });
});

describe("YAML as the server reads it (PyYAML, YAML 1.1)", () => {
  it("reads NO and on as booleans, 1:30 as a number, y and 1e5 as text", () => {
    assert.deepEqual(readDraft("in: [NO, SE]"), { in: [false, "SE"] });
    assert.deepEqual(readDraft("v: [on, Off, yes, 1:30, y, n, 1e5, 1.0e+5, 0x10]"), { v: [true, false, true, 90, "y", "n", "1e5", 100000, 16] });
  });

  it("quotes the words YAML 1.1 takes for something else, so text stays text", () => {
    const document = { fit: { in: ["NO", "SE", "on", "yes", "1:30", "y", "1e5", "1.0e+5"] } };
    const text = draftText(document);
    assert.match(text, /- "NO"\n\s+- SE\n\s+- "on"\n\s+- "yes"\n\s+- "1:30"\n\s+- y\n\s+- 1e5\n\s+- "1.0e\+5"/);
    assert.deepEqual(readDraft(text), document);
  });
});

describe("following a job", () => {
  it("polls the progress until the job is completed", async () => {
    const states = ["queued", "running", "completed"];
    const sent = fakeFetch(() => ({ body: { job_id: "j1", status: states.shift(), leads_total: 10, leads_done: 10 - 5 * states.length } }));
    const seen: string[] = [];
    const last = await follow(new Api("", () => "t"), "default", "j1", (p) => seen.push(p.status), () => false, async () => {});
    assert.deepEqual(seen, ["queued", "running", "completed"]);
    assert.equal(last?.status, "completed");
    assert.equal(sent[0].url, "/v1/models/default/rescore/j1");
  });
});

describe("the model page", () => {
  it("checks a draft, lists its problems at their line, publishes and follows the rescore", async () => {
    const { ModelPage } = await import("../src/pages/model.tsx");
    const { mount, unmount } = await import("./mount.tsx");
    const { byTestId, allByTestId, click, settle, MARKETING } = await import("./dom.ts");
    const states = ["running", "completed"];
    const sent = fakeFetch((request) => {
      if (request.url === "/v1/models/default" && request.method === "GET") {
        return { body: { id: "default", name: "Default", version: 3, thresholds: { mql: 60, reset: 75 }, countries: { in: ["NO", "SE"] } } };
      }
      if (request.url.endsWith("/validate")) {
        return { body: { valid: false, problems: [{ path: "thresholds.reset", message: "reset (75) must be below mql (60)", line: null, column: null }] } };
      }
      if (request.method === "PUT") return { body: { id: "default", version: 4 } };
      if (request.url.endsWith("/rescore")) return { status: 202, body: { job_id: "j9", progress_url: "/v1/models/default/rescore/j9", status: "queued" } };
      if (request.url.endsWith("/rescore/j9")) {
        return { body: { job_id: "j9", status: states.shift() ?? "completed", leads_total: 4, leads_done: 4, listing_complete: true, changed: 1, new_mqls: 0, lost_mqls: 0, failures: 0 } };
      }
      return undefined;
    });
    const root = mount(<ModelPage id="default" />, MARKETING);
    await settle();
    assert.ok(byTestId("page-model"));
    assert.match(byTestId("model-editor")?.textContent ?? "", /name: Default/);
    assert.doesNotMatch(byTestId("model-editor")?.textContent ?? "", /version: 3/, "the draft has no version");
    click(byTestId("model-check"));
    await settle();
    const text = 'id: default\nname: Default\nthresholds:\n  mql: 60\n  reset: 75\ncountries:\n  in:\n    - "NO"\n    - SE\n';
    assert.equal(sent.find((r) => r.url.endsWith("/validate"))?.body, text);
    const [problem] = allByTestId("problem");
    assert.equal(problem.getAttribute("data-line"), "5");
    assert.match(problem.textContent ?? "", /thresholds\.reset: reset \(75\) must be below mql \(60\)/);
    click(byTestId("publish"));
    await settle(20);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await settle();
    const put = sent.find((r) => r.method === "PUT");
    assert.equal(put?.headers["Content-Type"], "application/yaml");
    assert.equal(put?.body, text, "the editor's text, for the API to read as it reads the draft");
    assert.equal(byTestId("rescore-progress")?.getAttribute("data-status"), "completed");
    unmount(root);
  });

  it("tries a draft on a lead with its reasons in words, and previews it with leads new to the model", async () => {
    const { ModelPage } = await import("../src/pages/model.tsx");
    const { mount, unmount } = await import("./mount.tsx");
    const { byTestId, allByTestId, click, fill, settle, MARKETING } = await import("./dom.ts");
    const scored = (score: number, reasons: { rule: string; points: number; count: number; text: string }[]) => ({
      model: "default", model_version: 3, score, fit: 20, engagement: 20, grade: "B", engagement_level: 2, rating: "B2",
      status: "open", mql_since: null, sla_due_at: null, last_activity_at: null, reasons,
    });
    fakeFetch((request) => {
      if (request.url === "/v1/models/default") return { body: { id: "default", name: "Default", version: 3 } };
      if (request.url.endsWith("/try")) {
        return {
          body: {
            before: scored(40, [{ rule: "engagement.webinar", points: 10, count: 1, text: "Attended a webinar" }]),
            after: scored(55, [{ rule: "engagement.pricing_page", points: 25, count: 2, text: "Visited the pricing page twice" }]),
            difference: { "engagement.pricing_page": 25, "engagement.webinar": -10, "fit.size": 0 },
          },
        };
      }
      if (request.url.endsWith("/preview")) return { status: 202, body: { job_id: "p1", progress_url: "/v1/models/default/rescore/p1", status: "queued" } };
      if (request.url.endsWith("/rescore/p1")) {
        return {
          body: {
            job_id: "p1", status: "completed", dry_run: true, leads_total: 5, leads_done: 5, listing_complete: true, changed: 3, new_mqls: 1,
            lost_mqls: 0, failures: 0, scores: { before: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], after: [0, 0, 0, 0, 0, 1, 0, 0, 0, 0] },
            ratings: { B2: { B2: 3, A1: 1 }, none: { C3: 2 } }, became_mql: ["ada@corp.io"], left_mql: [],
          },
        };
      }
      return undefined;
    });
    const root = mount(<ModelPage id="default" />, MARKETING);
    await settle();
    fill(byTestId("try-email"), "ada@corp.io");
    click(byTestId("try"));
    await settle();
    const rows = allByTestId("try-difference").map((row) => [...row.children].map((cell) => cell.textContent));
    assert.deepEqual(rows, [
      ["Visited the pricing page twice (engagement.pricing_page)", "+25 pts"],
      ["Attended a webinar (engagement.webinar)", "-10 pts"],
      ["fit.size", "0 pts"],
    ]);
    click(byTestId("preview"));
    await settle(20);
    const grid = allByTestId("preview-grid-row").map((row) => [...row.children].map((cell) => cell.textContent));
    assert.equal(grid.length, 17, "A1 to D4, then leads not scored before");
    const none = grid[16];
    assert.equal(none[0], "not scored before");
    assert.equal(none[1 + 10], "2", "two new leads rated C3");
    assert.equal(grid[5][1], "1", "one B2 becomes A1");
    unmount(root);
  });
});
