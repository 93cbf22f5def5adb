/** A page in happy-dom that loads the built snippet, with a fake clock and recorded requests. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type EventTarget, Window } from "happy-dom";

export const SNIPPET_PATH = resolve("../../shared/leadscore/api/static/t.js");
export const SNIPPET = readFileSync(SNIPPET_PATH, "utf8");
export const SCRIPT_SRC = "https://api.example.net/prod/v1/t.js";
export const COLLECT_URL = "https://api.example.net/prod/v1/collect";
/** The command queue stub a page puts before the script tag (README). */
export const STUB =
  "window.leadscore = window.leadscore || function () {" +
  " (leadscore.q = leadscore.q || []).push(arguments) };";

export interface SentEvent {
  id: string;
  type: string;
  at: number;
  url: string;
  referrer?: string;
  title?: string;
  properties?: Record<string, unknown>;
  email?: string;
  traits?: Record<string, unknown>;
}

export interface Payload {
  site: string;
  visitor: string;
  events: SentEvent[];
  webdriver: boolean;
}

export interface Request {
  via: "beacon" | "fetch";
  url: string;
  body: string;
  payload: Payload;
  init?: RequestInit;
  at: number;
}

type Beacon = "accept" | "refuse" | "throw" | "missing";

export interface PageOptions {
  url?: string;
  referrer?: string;
  title?: string;
  /** The script tag's attributes besides `src` (default: `data-site="local-site"`). */
  attributes?: Record<string, string>;
  /** The script tag's src (default: SCRIPT_SRC). */
  src?: string;
  /** HTML of the head, before the script tag. */
  head?: string;
  /** Navigator properties to set (`doNotTrack`, `globalPrivacyControl`, `webdriver`...). */
  navigator?: Record<string, unknown>;
  /** Window properties to set before the snippet runs (`doNotTrack`, `crypto`...). */
  window?: Record<string, unknown>;
  cookie?: string;
  /** Page code run before the snippet (the command queue stub and queued commands). */
  before?: string;
  /** HTML of the body. */
  body?: string;
  beacon?: Beacon;
  /** Answers to fetch, in order (a status, or "reject" for a network error); then 204. */
  fetchAnswers?: (number | "reject")[];
  cookiesThrow?: boolean;
  storageThrows?: boolean;
  prerendering?: boolean;
}

interface Timer {
  id: number;
  due: number;
  callback: () => void;
}

/** setTimeout and clearTimeout on a clock that moves only when a test says so. */
class FakeClock {
  now = 0;
  private timers: Timer[] = [];
  private nextId = 1;

  setTimeout = (callback: (...args: unknown[]) => void, delay = 0, ...args: unknown[]): number => {
    const id = this.nextId++;
    this.timers.push({ id, due: this.now + Number(delay), callback: () => callback(...args) });
    return id;
  };

  clearTimeout = (id: number): void => {
    this.timers = this.timers.filter((timer) => timer.id != id);
  };

  pending(): number {
    return this.timers.length;
  }

  /** Moves the clock `ms` forward, running the timers that fall due, in time order. */
  tick(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = this.timers
        .filter((timer) => timer.due <= end)
        .sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      this.clearTimeout(next.id);
      this.now = next.due;
      next.callback();
    }
    this.now = end;
  }
}

export class Page {
  readonly window: Window;
  readonly clock = new FakeClock();
  readonly requests: Request[] = [];
  readonly cookieWrites: string[] = [];
  readonly errors: unknown[] = [];
  private fetchAnswers: (number | "reject")[];

  constructor(options: PageOptions = {}) {
    this.window = new Window({
      url: options.url ?? "https://www.example.com/pricing?plan=pro#faq",
      settings: { disableJavaScriptFileLoading: true, handleDisabledFileLoadingAsSuccess: true },
    });
    this.fetchAnswers = [...(options.fetchAnswers ?? [])];
    const { window } = this;
    const document = window.document;
    document.head.innerHTML = options.head ?? "";
    document.title = options.title ?? "Pricing";
    document.body.innerHTML = options.body ?? "";
    define(document, "referrer", options.referrer ?? "https://google.com/");
    window.addEventListener("error", (event) => this.errors.push(event));
    define(window, "setTimeout", this.clock.setTimeout);
    define(window, "clearTimeout", this.clock.clearTimeout);
    this.fakeCookies(options.cookiesThrow ?? false);
    if (options.cookie) document.cookie = options.cookie;
    if (options.storageThrows) {
      for (const name of ["localStorage", "sessionStorage"])
        Object.defineProperty(window, name, {
          configurable: true,
          get: () => {
            throw new window.DOMException("storage is disabled", "SecurityError");
          },
        });
    }
    define(window.navigator, "webdriver", false);
    define(window.navigator, "doNotTrack", null);
    this.fakeBeacon(options.beacon ?? "accept");
    define(window, "fetch", (url: string, init: RequestInit) => {
      this.record("fetch", url, String(init.body), init);
      const answer = this.fetchAnswers.shift() ?? 204;
      return answer == "reject"
        ? Promise.reject(new TypeError("Failed to fetch"))
        : Promise.resolve({ status: answer, ok: answer < 300 });
    });
    for (const [name, value] of Object.entries(options.navigator ?? {}))
      define(window.navigator, name, value);
    for (const [name, value] of Object.entries(options.window ?? {})) define(window, name, value);
    if (options.prerendering) define(document, "prerendering", true);
    if (options.before) this.run(options.before);
    this.load(options.attributes ?? { "data-site": "local-site" }, options.src);
  }

  /** Runs page code in the window, as a script of the page would. */
  run(code: string): unknown {
    return this.window.eval(code);
  }

  /** Loads the snippet as `<script async src=... data-site=...>` does. */
  load(attributes: Record<string, string>, src = SCRIPT_SRC): void {
    const document = this.window.document;
    const script = document.createElement("script");
    script.async = true;
    script.src = src;
    for (const [name, value] of Object.entries(attributes)) script.setAttribute(name, value);
    document.head.appendChild(script);
    // A browser's document shows its named img, form, embed, object and iframe elements as
    // properties over its own ([LegacyOverrideBuiltIns]); happy-dom does not.
    const named = document.querySelector(
      "img, form, embed, object, iframe".replace(/\w+/g, "$&[name=currentScript]"),
    );
    define(document, "currentScript", named ?? script);
    try {
      this.window.eval(SNIPPET);
    } finally {
      define(document, "currentScript", named);
    }
  }

  /** The events sent so far, in order. */
  events(): SentEvent[] {
    return this.requests.flatMap((request) => request.payload.events);
  }

  /** The `ls_vid` cookie's value, or undefined. */
  visitorCookie(): string | undefined {
    return /(?:^|;\s*)ls_vid=([^;]+)/.exec(this.cookieJar())?.[1];
  }

  cookieJar(): string {
    return this.cookieGetter?.call(this.window.document) ?? "";
  }

  dispatch(target: EventTarget, type: string): void {
    target.dispatchEvent(new this.window.Event(type, { bubbles: true, cancelable: true }));
  }

  /** Lets promise callbacks (the fetch answers) run. */
  async settle(): Promise<void> {
    for (let turn = 0; turn < 5; turn++) await new Promise((done) => setImmediate(done));
  }

  async close(): Promise<void> {
    await this.window.happyDOM.close();
  }

  private cookieGetter?: () => string;

  /** Records cookie writes (to see their attributes), or makes cookies throw as when blocked. */
  private fakeCookies(cookiesThrow: boolean): void {
    const document = this.window.document;
    let prototype = Object.getPrototypeOf(document);
    while (!Object.getOwnPropertyDescriptor(prototype, "cookie"))
      prototype = Object.getPrototypeOf(prototype);
    const cookie = Object.getOwnPropertyDescriptor(prototype, "cookie")!;
    this.cookieGetter = cookie.get;
    Object.defineProperty(document, "cookie", {
      configurable: true,
      get: () => {
        if (cookiesThrow) throw new this.window.DOMException("cookies blocked", "SecurityError");
        return cookie.get!.call(document);
      },
      set: (value: string) => {
        if (cookiesThrow) throw new this.window.DOMException("cookies blocked", "SecurityError");
        this.cookieWrites.push(value);
        cookie.set!.call(document, value);
      },
    });
  }

  private fakeBeacon(beacon: Beacon): void {
    const navigator = this.window.navigator;
    if (beacon == "missing") {
      define(navigator, "sendBeacon", undefined);
      return;
    }
    define(navigator, "sendBeacon", (url: string, body: unknown) => {
      if (beacon == "throw") throw new TypeError("sendBeacon is broken");
      if (beacon == "refuse") return false;
      this.record("beacon", url, body as string);
      return true;
    });
  }

  private record(via: Request["via"], url: string, body: string, init?: RequestInit): void {
    const payload = JSON.parse(body) as Payload;
    this.requests.push({ via, url, body, payload, init, at: this.clock.now });
  }
}

function define(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { configurable: true, writable: true, value });
}

let opened: Page[] = [];

/** A new page, closed by `closePages`. */
export function open(options?: PageOptions): Page {
  const page = new Page(options);
  opened.push(page);
  return page;
}

/** After each test: fails it if an error reached a page, and closes the pages it opened. */
export async function closePages(): Promise<void> {
  const pages = opened;
  opened = [];
  await Promise.all(pages.map((page) => page.close()));
  for (const page of pages) assert.deepEqual(page.errors, [], "an error reached the page");
}
