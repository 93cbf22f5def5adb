/** The model editor's glue: problems placed at their line (by line, or by path), 422s read, progress followed. */
import { fakeFetch } from "./dom.ts";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Api, ApiError } from "../src/api.ts";
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
    assert.equal(problemsOf(new ApiError(409, { title: "Conflict" })), null);
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
        return { body: { id: "default", name: "Default", version: 3, thresholds: { mql: 60, reset: 75 } } };
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
    assert.equal(sent.find((r) => r.url.endsWith("/validate"))?.body, "id: default\nname: Default\nthresholds:\n  mql: 60\n  reset: 75\n");
    const [problem] = allByTestId("problem");
    assert.equal(problem.getAttribute("data-line"), "5");
    assert.match(problem.textContent ?? "", /thresholds\.reset: reset \(75\) must be below mql \(60\)/);
    click(byTestId("publish"));
    await settle(20);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await settle();
    const put = sent.find((r) => r.method === "PUT");
    assert.deepEqual(JSON.parse(put?.body ?? ""), { id: "default", name: "Default", thresholds: { mql: 60, reset: 75 } });
    assert.equal(byTestId("rescore-progress")?.getAttribute("data-status"), "completed");
    unmount(root);
  });
});
