/** Privacy (DNT, GPC, bots, consent, prerendering), forms, and a hostile page. */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { COLLECT_URL, closePages, open, Page, type PageOptions, STUB } from "./page.ts";

afterEach(closePages);

const VISITOR = "Abc123_-Abc123_-Abc123";

function fields(page: Page, selector: string): { value: string; type: string }[] {
  return [...page.window.document.querySelectorAll(selector)] as unknown as {
    value: string;
    type: string;
  }[];
}

/** Browses a little, as a visitor would, and reports what the page holds. */
function browse(page: Page): unknown {
  page.run(`
    leadscore('track', 'download');
    leadscore('identify', {email: 'ann@acme.com'});
    history.pushState({}, '', '/demo');
    leadscore('visitor', function (id) { window.seen = id });
  `);
  page.dispatch(page.window, "pagehide");
  page.clock.tick(10_000);
  return page.run("window.seen");
}

describe("nothing is sent and no cookie is kept", () => {
  const optOuts: [string, PageOptions][] = [
    ["navigator.doNotTrack is 1", { navigator: { doNotTrack: "1" } }],
    ["window.doNotTrack is 1", { window: { doNotTrack: "1" } }],
    ["Global Privacy Control is on", { navigator: { globalPrivacyControl: true } }],
    ["navigator.webdriver is true", { navigator: { webdriver: true } }],
  ];
  for (const [when, options] of optOuts) {
    it(`when ${when}`, () => {
      const page = open({ ...options, cookie: `ls_vid=${VISITOR}; Path=/` });
      const seen = browse(page);
      assert.equal(page.requests.length, 0);
      assert.equal(page.visitorCookie(), undefined, "an earlier cookie is deleted");
      assert.equal(seen, null);
    });
  }

  it("tracks when Do Not Track is 0 or unset and GPC is false", () => {
    const page = open({ navigator: { doNotTrack: "0", globalPrivacyControl: false } });
    browse(page);
    assert.ok(page.requests.length > 0);
  });
});

describe('data-consent="required"', () => {
  const attributes = { "data-site": "local-site", "data-consent": "required" };

  it("sends nothing and sets no cookie before consent", () => {
    const page = open({ attributes });
    const seen = browse(page);
    assert.equal(page.requests.length, 0);
    assert.equal(page.visitorCookie(), undefined);
    assert.deepEqual(page.cookieWrites, []);
    assert.equal(seen, null);
  });

  it("sends what happened before, with its times, once consent is granted", () => {
    const page = open({ attributes });
    page.run("leadscore('track', 'download')");
    page.clock.tick(5000);
    assert.equal(page.requests.length, 0);

    page.run("leadscore('consent', 'granted')");
    assert.equal(page.requests.length, 1);
    const visitor = page.visitorCookie();
    assert.match(visitor ?? "", /^[\w-]{22}$/);
    assert.equal(page.requests[0].payload.visitor, visitor);
    assert.deepEqual(
      page.events().map((event) => event.type),
      ["page_view", "download"],
    );
    page.run("leadscore('track', 'download')");
    page.clock.tick(1000);
    assert.equal(page.requests.length, 2);
  });

  it("takes consent given before the script loaded", () => {
    const page = open({
      attributes,
      before: `${STUB}leadscore('consent', 'granted');`,
    });
    page.clock.tick(1000);
    assert.equal(page.events()[0].type, "page_view");
  });

  it("forgets the visitor and drops held events when consent is denied", () => {
    const page = open({ attributes, cookie: `ls_vid=${VISITOR}; Path=/` });
    page.run("leadscore('track', 'download'); leadscore('consent', 'denied')");
    assert.equal(page.visitorCookie(), undefined);
    assert.match(page.cookieWrites.at(-1) ?? "", /^ls_vid=; Path=\/; Max-Age=-1; SameSite=Lax/);
    browse(page);
    assert.equal(page.requests.length, 0);

    page.run("leadscore('consent', 'granted'); leadscore('track', 'webinar_registered')");
    page.clock.tick(1000);
    assert.deepEqual(
      page.events().map((event) => event.type),
      ["webinar_registered"],
    );
  });

  it("forgets a consented visitor when consent is withdrawn", () => {
    const page = open();
    page.clock.tick(1000);
    const visitor = page.requests[0].payload.visitor;
    page.run("leadscore('consent', 'denied'); leadscore('track', 'download')");
    page.clock.tick(5000);
    assert.equal(page.requests.length, 1);
    assert.equal(page.visitorCookie(), undefined);

    page.run("leadscore('consent', 'granted'); leadscore('track', 'download')");
    page.clock.tick(1000);
    assert.notEqual(page.requests[1].payload.visitor, visitor, "a new visitor");
  });

  it("does not let consent override Do Not Track", () => {
    const page = open({ attributes, navigator: { doNotTrack: "1" } });
    page.run("leadscore('consent', 'granted')");
    browse(page);
    assert.equal(page.requests.length, 0);
    assert.equal(page.visitorCookie(), undefined);
  });
});

describe("prerendering", () => {
  it("waits until the page is shown", () => {
    const page = open({ prerendering: true });
    page.clock.tick(5000);
    assert.equal(page.requests.length, 0);
    assert.equal(page.visitorCookie(), undefined);

    page.dispatch(page.window.document, "prerenderingchange");
    page.clock.tick(1000);
    assert.deepEqual(
      page.events().map((event) => event.type),
      ["page_view"],
    );
  });
});

describe("forms", () => {
  const body = `
    <form id="demo" method="post" action="https://api.example.net/prod/v1/forms?x=1">
      <input name="email" value="ann@acme.com">
    </form>
    <form id="other" action="/search"><input name="q"></form>
    <form id="platform" action="https://forms.example.org/submit">
      <input type="hidden" name="_visitor" value="">
    </form>`;

  it("adds the visitor id to forms posting to /v1/forms, and fills _visitor fields", () => {
    const page = open({ body });
    const document = page.window.document;
    const visitor = page.visitorCookie();
    assert.equal(fields(page, "#platform [name=_visitor]")[0].value, visitor);

    for (const id of ["demo", "other"]) page.dispatch(document.getElementById(id)!, "submit");
    const added = fields(page, "#demo [name=_visitor]");
    assert.equal(added.length, 1);
    assert.equal(added[0].type, "hidden");
    assert.equal(added[0].value, visitor);
    assert.equal(document.querySelector("#other [name=_visitor]"), null);

    page.dispatch(document.getElementById("demo")!, "submit");
    assert.equal(fields(page, "#demo [name=_visitor]").length, 1, "added once");
  });

  it("leaves forms alone when not tracking", () => {
    const page = open({ body, navigator: { globalPrivacyControl: true } });
    const document = page.window.document;
    page.dispatch(document.getElementById("demo")!, "submit");
    assert.equal(document.querySelector("#demo [name=_visitor]"), null);
    assert.equal(fields(page, "#platform [name=_visitor]")[0].value, "");
  });

  it("empties _visitor fields when consent is denied", () => {
    const page = open({ body });
    page.run("leadscore('consent', 'denied')");
    assert.equal(fields(page, "#platform [name=_visitor]")[0].value, "");
  });
});

describe("a hostile page", () => {
  // HTML a page lets through (a comment, a CMS field): no script, a named image.
  const clobber = '<img name="currentScript" src="https://evil.example/v1/t.js" data-site="www">';

  it("keeps its own tag's collect URL, site and consent when currentScript is clobbered", () => {
    const page = open({
      body: clobber,
      attributes: { "data-site": "local-site", "data-consent": "required" },
    });
    assert.equal(page.run("document.currentScript.tagName"), "IMG");
    browse(page);
    assert.equal(page.requests.length, 0, "consent is required by the snippet's own tag");

    page.run("leadscore('consent', 'granted')");
    page.clock.tick(1000);
    assert.ok(page.requests.length > 0);
    for (const request of page.requests) {
      assert.equal(request.url, COLLECT_URL);
      assert.equal(request.payload.site, "local-site");
    }
  });

  it("finds its own tag, query string and all, past other scripts with a site key", () => {
    const page = open({
      head:
        '<script src="https://cdn.example.org/t.jsx" data-site="www"></script>' +
        '<script src="https://cdn.example.org/t.js/app.js" data-site="www"></script>' +
        '<script src="https://cdn.example.org/t.js"></script>',
      body: clobber,
      src: "https://api.example.net/prod/v1/t.js?v=2",
    });
    page.clock.tick(1000);
    assert.equal(page.requests.length, 1);
    assert.equal(page.requests[0].url, COLLECT_URL);
    assert.equal(page.requests[0].payload.site, "local-site");
  });

  it("still tracks, with a visitor id for the page, when cookies throw", () => {
    const page = open({ cookiesThrow: true });
    page.run("leadscore('visitor', function (id) { window.seen = id })");
    page.clock.tick(1000);
    assert.equal(page.requests.length, 1);
    assert.equal(page.requests[0].payload.visitor, page.run("window.seen"));
    page.run("leadscore('consent', 'denied')");
  });

  it("does not mind storage that throws", () => {
    const page = open({ storageThrows: true });
    assert.throws(() => page.run("localStorage.length"));
    page.clock.tick(1000);
    assert.equal(page.requests.length, 1);
  });

  it("sends nothing and throws nothing without crypto.getRandomValues", () => {
    const page = open({ window: { crypto: undefined } });
    browse(page);
    assert.equal(page.requests.length, 0);
  });
});
