/** The queue: the MQL list asked by deadline, overdue rows first and flagged in words, paging. */
import { allByTestId, byTestId, click, fakeFetch, SALES, settle } from "./dom.ts";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QueuePage } from "../src/pages/queue.tsx";
import type { LeadRow } from "../src/types.ts";
import { mount, unmount } from "./mount.tsx";

const HOUR = 3_600_000;

function row(email: string, dueIn: number, extra: Partial<LeadRow> = {}): LeadRow {
  return {
    email,
    name: null,
    company: "Acme",
    account: "acme.com",
    owner: "ann@acme.com",
    score: 72.5,
    fit: 80,
    engagement: 65,
    rating: "A2",
    status: "mql",
    mql_since: new Date(Date.now() - 10 * HOUR).toISOString(),
    sla_due_at: new Date(Date.now() + dueIn).toISOString(),
    last_activity_at: null,
    ...extra,
  };
}

describe("the queue", () => {
  it("asks for the MQLs by follow-up deadline and flags the overdue ones first, in words", async () => {
    const sent = fakeFetch((request) =>
      request.url.startsWith("/v1/leads")
        ? { body: { leads: [row("soon@acme.com", 2 * HOUR + 60_000), row("late@acme.com", -3 * HOUR - 60_000)], next_cursor: "c2" } }
        : undefined,
    );
    const root = mount(<QueuePage />, SALES);
    await settle();
    assert.ok(byTestId("page-queue"));
    const url = new URL(sent.find((r) => r.url.startsWith("/v1/leads"))!.url, "https://x");
    assert.equal(url.searchParams.get("status"), "mql");
    assert.equal(url.searchParams.get("sort"), "sla_due_at");
    const rows = allByTestId("queue-row");
    assert.equal(rows.length, 2);
    assert.equal(rows[0].getAttribute("data-overdue"), "true");
    assert.match(rows[0].textContent ?? "", /late@acme\.com/);
    assert.match(byTestId("overdue", rows[0])?.textContent ?? "", /overdue 3 h/);
    assert.ok(rows[0].classList.contains("overdue"));
    assert.equal(rows[1].getAttribute("data-overdue"), "false");
    assert.match(rows[1].textContent ?? "", /due in 2 h/);
    assert.equal(rows[0].querySelector("a")?.getAttribute("href"), "#/leads/late%40acme.com");
    click(rows[1].querySelector('[data-label="Score"]'));
    assert.equal(location.hash, "#/leads/soon%40acme.com", "a click on the row opens the lead");
    unmount(root);
  });

  it("lists the default model when several exist and none was named (the API names them)", async () => {
    const sent = fakeFetch((request) => {
      if (!request.url.startsWith("/v1/leads")) return undefined;
      if (new URL(request.url, "https://x").searchParams.get("model") === "default") {
        return { body: { leads: [row("ann@acme.com", HOUR)], next_cursor: null } };
      }
      const refused = { field: "model", message: "required: several models exist", allowed: ["analytics", "default"] };
      return { status: 422, body: { title: "Unprocessable Content", status: 422, errors: [refused] } };
    });
    const root = mount(<QueuePage />, SALES);
    await settle(16);
    assert.equal(allByTestId("queue-row").length, 1);
    assert.equal((byTestId("filter-model") as HTMLInputElement).value, "default");
    assert.equal(byTestId("page-queue")?.querySelector('[role="alert"]'), null, "no error shown");
    assert.ok(sent.some((r) => r.url.includes("model=default")));
    unmount(root);
  });

  it("pages with More and switches to accounts by score", async () => {
    const sent = fakeFetch((request) => {
      if (request.url.includes("cursor=c2")) return { body: { leads: [row("third@acme.com", HOUR)], next_cursor: null } };
      if (request.url.startsWith("/v1/leads")) return { body: { leads: [row("first@acme.com", HOUR)], next_cursor: "c2" } };
      if (request.url.startsWith("/v1/accounts")) {
        return { body: { accounts: [{ account: "acme.com", score: 64, rating: "B1", status: "mqa", mqa_since: null }], next_cursor: null } };
      }
      return undefined;
    });
    const root = mount(<QueuePage />, SALES);
    await settle();
    click(byTestId("more"));
    await settle();
    assert.equal(allByTestId("queue-row").length, 2);
    assert.equal(byTestId("more"), null, "no More after the last page");
    click(byTestId("tab-accounts"));
    await settle();
    assert.equal(byTestId("tab-accounts")?.getAttribute("aria-selected"), "true");
    assert.match(sent[sent.length - 1].url, /^\/v1\/accounts\?.*sort=-score/);
    assert.match(byTestId("account-row")?.textContent ?? "", /acme\.com.*64 \/ 100.*B1.*MQA/);
    unmount(root);
  });

  it("shows the API's problem when the list is refused", async () => {
    fakeFetch(() => ({
      status: 422,
      body: { title: "Unprocessable Content", status: 422, detail: "the list's query is not valid", errors: [{ field: "model", message: "required: several models exist" }] },
    }));
    const root = mount(<QueuePage />, SALES);
    await settle();
    assert.match(document.querySelector("[role=alert]")?.textContent ?? "", /model: required: several models exist/);
    unmount(root);
  });
});
