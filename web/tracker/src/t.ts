/**
 * The leadscore website tracking snippet (GET /v1/t.js): page views, `track` and `identify`
 * events, batched to the collect URL beside the script, never an exception into the page.
 */

type Properties = Record<string, unknown>;

interface TrackedEvent {
  id: string;
  type: string;
  at: number;
  url: string;
  referrer?: string;
  title?: string;
  properties?: Properties;
  email?: string;
  traits?: Properties;
}

/** `window.leadscore`: the page's stub (commands queued in `q`) or this script's function. */
interface Leadscore {
  (...command: unknown[]): void;
  q?: ArrayLike<unknown>[];
  loaded?: boolean;
}

declare global {
  interface Window {
    leadscore?: Leadscore;
    doNotTrack?: string;
  }
  interface Navigator {
    globalPrivacyControl?: boolean;
  }
  interface Document {
    prerendering?: boolean;
  }
}

const COOKIE = "ls_vid";
const COOKIE_DAYS = 90;
const VISITOR_ID = /^[\w-]{16,64}$/;
// What the collect URL takes (it refuses a whole request for one bad event): a snake-case
// type that is not an email platform's, an address, strings of at most 4,096 characters.
const EVENT_TYPE = /^(?!email_)[a-z][a-z0-9_]{0,63}$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const MAX_TEXT = 4096;
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const FLUSH_MS = 1000;
const BATCH_EVENTS = 20;
const BATCH_BYTES = 16 * 1024;
const SEND_TRIES = 3;
// Events held in memory (before consent, or while a page floods): the rest are dropped.
const HELD_EVENTS = 100;

/** Runs `action`, swallowing its errors: nothing this script does may break the host page. */
function guarded<A extends unknown[]>(action: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      action(...args);
    } catch {
      // never into the page
    }
  };
}

/** A random id of `length` characters of [A-Za-z0-9_-] (6 random bits each). */
function randomId(length: number): string {
  let id = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(length))) id += ID_ALPHABET[byte & 63];
  return id;
}

function isEmail(value: unknown): value is string {
  return typeof value == "string" && EMAIL.test(value);
}

function isObject(value: unknown): value is Properties {
  return typeof value == "object" && value !== null && !Array.isArray(value);
}

/** The page's URL without its fragment (which may hold tokens, and is not a page view). */
function pageUrl(): string {
  return location.href.split("#")[0].slice(0, MAX_TEXT);
}

function byteLength(text: string): number {
  return new Blob([text]).size;
}

// Read while this script runs: it is null afterwards (a prerendered page starts later).
const current = document.currentScript;

/**
 * This script's tag. The page's own HTML can shadow `document.currentScript` with an element
 * named "currentScript" (`<img name=currentScript src=... data-site=...>`), so only a script
 * element is taken; else the first script tag with a site key whose src is a `.../t.js`.
 */
function ownTag(): HTMLScriptElement | undefined {
  if (current instanceof HTMLScriptElement) return current;
  for (const tag of document.querySelectorAll("script[src][data-site]"))
    if (tag instanceof HTMLScriptElement && /\/t\.js([?#]|$)/.test(tag.src)) return tag;
  return undefined;
}

function main(): void {
  const stub = window.leadscore;
  const script = ownTag();
  if (!script || stub?.loaded) return;
  const site = script.getAttribute("data-site");
  const collectUrl = new URL("collect", script.src).href;
  const optedOut =
    !site ||
    navigator.doNotTrack == "1" ||
    window.doNotTrack == "1" ||
    navigator.globalPrivacyControl === true ||
    navigator.webdriver === true;
  let consent = script.getAttribute("data-consent") == "required" ? "pending" : "granted";
  let visitor: string | null = null;
  let held: TrackedEvent[] = [];
  let flushTimer = 0;
  let lastUrl = "";

  const setCookie = guarded((value: string, maxAge: number) => {
    const secure = location.protocol == "https:" ? "; Secure" : "";
    document.cookie = `${COOKIE}=${value}; Path=/; Max-Age=${maxAge}; SameSite=Lax${secure}`;
  });

  /** The visitor id from the cookie, or a new one; the cookie is renewed for 90 days. */
  function visitorId(): string {
    let id = randomId(22);
    try {
      const found = new RegExp(`(?:^|;\\s*)${COOKIE}=([^;]*)`).exec(document.cookie)?.[1];
      if (found && VISITOR_ID.test(found)) id = found;
    } catch {
      // cookies blocked: the id lives as long as the page
    }
    setCookie(id, COOKIE_DAYS * 86400);
    return id;
  }

  function fillVisitorFields(root: ParentNode): void {
    for (const input of root.querySelectorAll<HTMLInputElement>('input[name="_visitor"]'))
      input.value = visitor ?? "";
  }

  function record(type: string, fields: Partial<TrackedEvent>): void {
    if (optedOut || consent == "denied" || held.length >= HELD_EVENTS) return;
    held.push({ id: randomId(16), type, at: Date.now(), url: pageUrl(), ...fields });
    if (visitor && !flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
  }

  function pageView(): void {
    const url = pageUrl();
    if (url == lastUrl) return;
    record("page_view", {
      referrer: (lastUrl || document.referrer).slice(0, MAX_TEXT),
      title: document.title.slice(0, 300),
      properties: {},
    });
    lastUrl = url;
  }

  /** Sends `body` by beacon, else by fetch keepalive, retried with backoff on failure. */
  function send(body: string, tries: number): void {
    try {
      if (navigator.sendBeacon(collectUrl, body)) return;
    } catch {
      // no beacon here, or it refused: fetch below
    }
    fetch(collectUrl, { method: "POST", body, keepalive: true, credentials: "omit" })
      .then((response) => {
        if (response.status == 429 || response.status > 499) throw response;
      })
      .catch(() => {
        // Kept in memory only; consent denied meanwhile drops them.
        if (++tries < SEND_TRIES)
          setTimeout(() => visitor && sendSafely(body, tries), 1000 << tries);
      });
  }
  const sendSafely = guarded(send);

  /** Sends the held events in requests of at most 20 events and 16 KB. */
  function flush(): void {
    clearTimeout(flushTimer);
    flushTimer = 0;
    while (visitor && held.length) {
      let count = Math.min(held.length, BATCH_EVENTS);
      const body = (): string =>
        JSON.stringify({
          site,
          visitor,
          events: held.slice(0, count),
          webdriver: navigator.webdriver === true,
        });
      while (count > 1 && byteLength(body()) > BATCH_BYTES) count--;
      const request = body();
      held.splice(0, count);
      // An event too large on its own is dropped: the collect URL would refuse it.
      if (byteLength(request) <= BATCH_BYTES) sendSafely(request, 0);
    }
  }

  function grant(): void {
    if (optedOut) return;
    consent = "granted";
    visitor ??= visitorId();
    fillVisitorFields(document);
    if (held.length) flush();
  }

  function deny(): void {
    consent = "denied";
    visitor = null;
    held = [];
    clearTimeout(flushTimer);
    flushTimer = 0;
    setCookie("", -1);
    fillVisitorFields(document);
  }

  function command(name?: unknown, first?: unknown, second?: unknown): void {
    if (name == "track" && typeof first == "string" && EVENT_TYPE.test(first))
      record(first, { properties: isObject(second) ? second : {} });
    else if (name == "identify" && isObject(first) && isEmail(first.email)) {
      const { email, ...traits } = first;
      record("identify", { email, traits });
    } else if (name == "consent") {
      if (first == "granted") grant();
      else if (first == "denied") deny();
    } else if (name == "visitor" && typeof first == "function") first(visitor);
  }

  const leadscore: Leadscore = (...args) => {
    try {
      command(...args);
    } catch {
      // a bad command, or the page's own callback failing: never into the page
    }
  };
  leadscore.loaded = true;

  /** Listens to navigation, page hiding and form submits; sends this page's view. */
  function startTracking(): void {
    const onNavigation = guarded(pageView);
    for (const method of ["pushState", "replaceState"] as const) {
      const original = history[method];
      history[method] = function (this: History, ...args: Parameters<History["pushState"]>) {
        const result = original.apply(this, args);
        onNavigation();
        return result;
      };
    }
    addEventListener("popstate", onNavigation);
    addEventListener("pagehide", guarded(flush));
    document.addEventListener(
      "visibilitychange",
      guarded(() => document.visibilityState == "hidden" && flush()),
    );
    document.addEventListener(
      "submit",
      guarded((event: Event) => {
        const form = event.target;
        if (!visitor || !(form instanceof HTMLFormElement)) return;
        const action = (form.getAttribute("action") ?? "").split(/[?#]/)[0];
        if (action.endsWith("/v1/forms") && !form.querySelector('input[name="_visitor"]')) {
          const input = document.createElement("input");
          input.type = "hidden";
          input.name = "_visitor";
          form.appendChild(input);
        }
        fillVisitorFields(form);
      }),
      true,
    );
    // An async script may run before the rest of the page is parsed.
    document.addEventListener("DOMContentLoaded", guarded(() => fillVisitorFields(document)));
    if (consent == "granted") grant();
    pageView();
  }

  // Whatever fails in startTracking (no crypto, say), the queued commands still run.
  if (optedOut) setCookie("", -1);
  else guarded(startTracking)();

  const queued = stub?.q ?? [];
  for (let index = 0; index < queued.length; index++) leadscore(...Array.from(queued[index]));
  window.leadscore = leadscore;
}

// A prerendered page counts once it is shown.
if (document.prerendering)
  document.addEventListener("prerenderingchange", guarded(main), { once: true });
else guarded(main)();

export {};
