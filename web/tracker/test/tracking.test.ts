/** What the snippet sends: the command queue, page views, SPA navigation, identify and track. */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { COLLECT_URL, closePages, open, STUB } from "./page.ts";

afterEach(closePages);

describe("page view on load", () => {
  it("sends url, referrer and title with the visitor id, after a second", () => {
    const before = Date.now();
    const page = open();
    page.clock.tick(999);
    assert.equal(page.requests.length, 0);
    page.clock.tick(1);

    assert.equal(page.requests.length, 1);
    const [request] = page.requests;
    assert.equal(request.via, "beacon");
    assert.equal(request.url, COLLECT_URL);
    assert.equal(typeof request.body, "string");
    const { site, visitor, events, webdriver } = request.payload;
    assert.equal(site, "local-site");
    assert.match(visitor, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(visitor, page.visitorCookie());
    assert.equal(webdriver, false);
    assert.equal(events.length, 1);
    const [view] = events;
    assert.match(view.id, /^[A-Za-z0-9_-]{16}$/);
    assert.equal(view.type, "page_view");
    assert.ok(view.at >= before && view.at <= Date.now());
    // The fragment is never sent.
    assert.equal(view.url, "https://www.example.com/pricing?plan=pro");
    assert.equal(view.referrer, "https://google.com/");
    assert.equal(view.title, "Pricing");
    assert.deepEqual(view.properties, {});
  });

  it("keeps the visitor id of the ls_vid cookie and renews it for 90 days", () => {
    const page = open({ cookie: "ls_vid=Abc123_-Abc123_-Abc123; Path=/" });
    page.clock.tick(1000);
    assert.equal(page.requests[0].payload.visitor, "Abc123_-Abc123_-Abc123");
    assert.equal(
      page.cookieWrites.at(-1),
      "ls_vid=Abc123_-Abc123_-Abc123; Path=/; Max-Age=7776000; SameSite=Lax; Secure",
    );
  });

  it("replaces a malformed cookie, and is not Secure on http", () => {
    const page = open({ url: "http://localhost:8000/", cookie: "ls_vid=short" });
    page.clock.tick(1000);
    const { visitor } = page.requests[0].payload;
    assert.match(visitor, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(
      page.cookieWrites.at(-1),
      `ls_vid=${visitor}; Path=/; Max-Age=7776000; SameSite=Lax`,
    );
  });

  it("gives each visitor and each event its own id", () => {
    const first = open();
    const second = open();
    first.run("leadscore('track', 'download'); leadscore('track', 'download')");
    first.clock.tick(1000);
    second.clock.tick(1000);
    assert.notEqual(first.visitorCookie(), second.visitorCookie());
    const ids = [...first.events(), ...second.events()].map((event) => event.id);
    assert.equal(new Set(ids).size, 4);
  });

  it("posts to the collect URL beside the script, stage path included", () => {
    const page = open();
    page.clock.tick(1000);
    assert.equal(page.requests[0].url, "https://api.example.net/prod/v1/collect");
  });

  it("sends nothing without a site key", () => {
    const page = open({ attributes: {} });
    page.clock.tick(5000);
    assert.equal(page.requests.length, 0);
    assert.equal(page.visitorCookie(), undefined);
  });
});

describe("the command queue", () => {
  it("runs the commands queued before the script loaded, then replaces the stub", () => {
    const page = open({
      before:
        STUB +
        "leadscore('track', 'demo_request', {plan: 'pro'});" +
        "leadscore('identify', {email: 'ann@acme.com', first_name: 'Ann', company: 'Acme'});",
    });
    const leadscore = page.run("window.leadscore") as { q?: unknown; loaded?: boolean };
    assert.equal(typeof leadscore, "function");
    assert.equal(leadscore.q, undefined);

    page.run("leadscore('track', 'webinar_registered')");
    page.clock.tick(1000);

    assert.equal(page.requests.length, 1);
    const events = page.events();
    assert.deepEqual(
      events.map((event) => event.type),
      ["page_view", "demo_request", "identify", "webinar_registered"],
    );
    assert.deepEqual(events[1].properties, { plan: "pro" });
    assert.equal(events[1].url, "https://www.example.com/pricing?plan=pro");
    assert.equal(events[2].email, "ann@acme.com");
    assert.deepEqual(events[2].traits, { first_name: "Ann", company: "Acme" });
    assert.equal(events[2].url, "https://www.example.com/pricing?plan=pro");
    assert.deepEqual(events[3].properties, {});
  });

  it("bounds what the collect URL would refuse: long URLs and titles", () => {
    const long = "a".repeat(5000);
    const page = open({
      url: `https://www.example.com/?q=${long}`,
      referrer: `https://google.com/?q=${long}`,
      title: long,
    });
    page.clock.tick(1000);
    const [view] = page.events();
    assert.equal(view.url?.length, 4096);
    assert.equal(view.referrer?.length, 4096);
    assert.equal(view.title?.length, 300);
  });

  it("works without the stub", () => {
    const page = open();
    page.run("leadscore('track', 'download', {asset: 'guide.pdf'})");
    page.clock.tick(1000);
    assert.deepEqual(page.events()[1].properties, { asset: "guide.pdf" });
  });

  it("counts one page view when the script is included twice", () => {
    const page = open();
    page.load({ "data-site": "local-site" });
    page.clock.tick(1000);
    assert.equal(page.events().length, 1);
  });

  it("ignores malformed commands without throwing", () => {
    const page = open({ before: `${STUB}leadscore(); leadscore('track');` });
    page.run(`
      leadscore('identify', null);
      leadscore('identify', {first_name: 'Ann'});
      leadscore('track', 42);
      leadscore('track', '', {});
      leadscore('track', 'Demo Request');
      leadscore('track', 'email_open');
      leadscore('identify', {email: 'not an address'});
      leadscore('consent', 'maybe');
      leadscore('visitor', 'not a function');
      leadscore('no such command', 1, 2);
      leadscore('track', 'download', 'not an object');
    `);
    page.clock.tick(1000);
    const events = page.events();
    assert.deepEqual(
      events.map((event) => event.type),
      ["page_view", "download"],
    );
    assert.deepEqual(events[1].properties, {});
  });

  it("hands the visitor id to visitor(callback), and swallows the callback's errors", () => {
    const page = open();
    page.run("leadscore('visitor', function (id) { window.seen = id })");
    page.run("leadscore('visitor', function () { throw new Error('page bug') })");
    assert.equal(page.run("window.seen"), page.visitorCookie());
  });
});

describe("single-page apps", () => {
  it("sends a page view when pushState or popstate changes the URL", () => {
    const page = open();
    page.run("history.pushState({}, '', '/demo')");
    page.run("history.replaceState({}, '', '/demo')");
    page.run("history.pushState({}, '', '/demo#form')");
    page.run("history.replaceState({}, '', '/careers?team=sales')");
    page.run("history.pushState({}, '', '/blog')");
    page.run("history.back()");
    page.run("window.dispatchEvent(new PopStateEvent('popstate'))");
    page.clock.tick(1000);

    const views = page.events().filter((event) => event.type == "page_view");
    assert.deepEqual(
      views.map((view) => [view.url, view.referrer]),
      [
        ["https://www.example.com/pricing?plan=pro", "https://google.com/"],
        ["https://www.example.com/demo", "https://www.example.com/pricing?plan=pro"],
        ["https://www.example.com/careers?team=sales", "https://www.example.com/demo"],
        ["https://www.example.com/blog", "https://www.example.com/careers?team=sales"],
        ["https://www.example.com/careers?team=sales", "https://www.example.com/blog"],
      ],
    );
  });

  it("leaves what pushState returns and throws to the page", () => {
    const page = open();
    assert.equal(page.run("history.pushState({}, '', '/a')"), undefined);
    assert.throws(() => page.run("history.pushState({}, '', 'https://elsewhere.test/')"));
  });
});
