/** How the snippet sends: batches, their limits, beacon then fetch keepalive, retries. */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { COLLECT_URL, closePages, open } from "./page.ts";

afterEach(closePages);

describe("batching", () => {
  it("sends the events of a second together", () => {
    const page = open();
    page.clock.tick(500);
    page.run("leadscore('track', 'download')");
    page.clock.tick(500);
    assert.equal(page.requests.length, 1);
    assert.equal(page.events().length, 2);
    page.run("leadscore('track', 'download')");
    page.clock.tick(999);
    assert.equal(page.requests.length, 1);
    page.clock.tick(1);
    assert.equal(page.requests.length, 2);
  });

  it("sends at most 20 events a request, in order", () => {
    const page = open();
    page.run("for (let n = 1; n <= 25; n++) leadscore('track', 'click', {n})");
    page.clock.tick(1000);
    assert.deepEqual(
      page.requests.map((request) => request.payload.events.length),
      [20, 6],
    );
    const numbers = page.events().map((event) => event.properties?.n);
    assert.deepEqual(numbers, [undefined, ...Array.from({ length: 25 }, (_, n) => n + 1)]);
  });

  it("keeps each request within 16 KB and drops an event too large to send", () => {
    const page = open();
    page.run(`
      const text = 'x'.repeat(6000);
      leadscore('track', 'note', {text, n: 1});
      leadscore('track', 'note', {text: 'y'.repeat(17000), n: 2});
      leadscore('track', 'note', {text, n: 3});
      leadscore('track', 'note', {text, n: 4});
    `);
    page.clock.tick(1000);
    for (const request of page.requests) assert.ok(Buffer.byteLength(request.body) <= 16384);
    const numbers = page.events().map((event) => event.properties?.n);
    assert.deepEqual(numbers, [undefined, 1, 3, 4]);
    assert.ok(page.requests.length >= 2);
  });

  it("sends at once when the page is hidden or left", () => {
    const page = open();
    page.dispatch(page.window.document, "visibilitychange");
    assert.equal(page.requests.length, 0, "still visible: nothing yet");

    Object.defineProperty(page.window.document, "visibilityState", { value: "hidden" });
    page.dispatch(page.window.document, "visibilitychange");
    assert.equal(page.requests.length, 1);

    page.run("leadscore('track', 'download')");
    page.dispatch(page.window, "pagehide");
    assert.equal(page.requests.length, 2);
    page.clock.tick(5000);
    assert.equal(page.requests.length, 2, "nothing sent twice");
  });
});

describe("transport", () => {
  it("uses sendBeacon with a text body first", () => {
    const page = open();
    page.clock.tick(1000);
    assert.equal(page.requests[0].via, "beacon");
    assert.equal(typeof page.requests[0].body, "string");
  });

  for (const beacon of ["refuse", "throw", "missing"] as const) {
    it(`falls back to fetch keepalive when sendBeacon is ${beacon}`, async () => {
      const page = open({ beacon });
      page.clock.tick(1000);
      await page.settle();
      assert.equal(page.requests.length, 1);
      const [request] = page.requests;
      assert.equal(request.via, "fetch");
      assert.equal(request.url, COLLECT_URL);
      assert.deepEqual(
        { ...request.init, body: undefined },
        { method: "POST", body: undefined, keepalive: true, credentials: "omit" },
      );
      // A string body: sent as text/plain;charset=UTF-8, a request without preflight.
      assert.equal(typeof request.init?.body, "string");
      assert.equal(page.events()[0].type, "page_view");
    });
  }

  it("retries a failed fetch with backoff, with the same event ids", async () => {
    const page = open({ beacon: "refuse", fetchAnswers: ["reject", 503] });
    page.clock.tick(1000);
    await page.settle();
    page.clock.tick(1999);
    assert.equal(page.requests.length, 1);
    page.clock.tick(1);
    await page.settle();
    assert.equal(page.requests.length, 2);
    page.clock.tick(4000);
    await page.settle();

    assert.deepEqual(
      page.requests.map((request) => request.at),
      [1000, 3000, 7000],
    );
    const [first, ...retries] = page.requests;
    for (const retry of retries) assert.equal(retry.body, first.body);
    page.clock.tick(60_000);
    await page.settle();
    assert.equal(page.requests.length, 3, "answered 204: no more tries");
  });

  it("gives up after three tries", async () => {
    const page = open({ beacon: "refuse", fetchAnswers: [500, 429, 502, 500] });
    for (let second = 0; second < 60; second++) {
      page.clock.tick(1000);
      await page.settle();
    }
    assert.equal(page.requests.length, 3);
    assert.equal(page.clock.pending(), 0);
  });

  it("drops a retry when consent is denied meanwhile", async () => {
    const page = open({ beacon: "refuse", fetchAnswers: [503] });
    page.clock.tick(1000);
    await page.settle();
    page.run("leadscore('consent', 'denied')");
    page.clock.tick(60_000);
    await page.settle();
    assert.equal(page.requests.length, 1);
  });

  it("does not retry a request the collect URL refused", async () => {
    const page = open({ beacon: "refuse", fetchAnswers: [403] });
    page.clock.tick(1000);
    await page.settle();
    page.clock.tick(60_000);
    await page.settle();
    assert.equal(page.requests.length, 1);
  });

  it("does not throw when fetch is missing too", () => {
    const page = open({ beacon: "missing", window: { fetch: undefined } });
    page.clock.tick(1000);
    assert.equal(page.requests.length, 0);
  });
});
