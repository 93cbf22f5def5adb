/** A happy-dom window as the global one (imported first by every test), a fake fetch, helpers. */
import { Window } from "happy-dom";

export const window = new Window({ url: "https://console.example.com/console/" });

const GLOBALS = [
  "window", "document", "navigator", "location", "sessionStorage", "localStorage", "Node", "Element",
  "HTMLElement", "HTMLFormElement", "HTMLInputElement", "HTMLSelectElement", "HTMLButtonElement",
  "SVGElement", "DocumentFragment", "Text", "Event", "KeyboardEvent", "MouseEvent", "FocusEvent",
  "SubmitEvent", "CustomEvent", "FormData", "getComputedStyle", "addEventListener",
  "removeEventListener", "dispatchEvent", "requestAnimationFrame", "cancelAnimationFrame",
  "MutationObserver", "ResizeObserver",
] as const;

for (const name of GLOBALS) {
  const value = name === "window" ? window : (window as unknown as Record<string, unknown>)[name];
  Object.defineProperty(globalThis, name, {
    configurable: true,
    writable: true,
    value: typeof value === "function" && /^[a-z]/.test(name) ? value.bind(window) : value,
  });
}

export interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

export type Answer = { status?: number; body?: unknown; type?: string };

/** Replaces fetch: `route` answers each request; every request is recorded in `sent`. */
export function fakeFetch(route: (request: Sent) => Answer | undefined): Sent[] {
  const sent: Sent[] = [];
  globalThis.fetch = (async (input: string | URL, init: RequestInit = {}) => {
    const request: Sent = {
      method: init.method ?? "GET",
      url: String(input),
      headers: Object.fromEntries(Object.entries((init.headers as Record<string, string>) ?? {})),
      body: init.body as string | undefined,
    };
    sent.push(request);
    const answer = route(request) ?? { status: 404, body: { title: "Not Found", status: 404, detail: "no fake" } };
    const status = answer.status ?? 200;
    const text = answer.body === undefined ? "" : JSON.stringify(answer.body);
    return new Response(status === 204 ? null : text, {
      status,
      headers: { "Content-Type": answer.type ?? (status >= 400 ? "application/problem+json" : "application/json") },
    });
  }) as typeof fetch;
  return sent;
}

/** Lets effects, fetches and renders run (a few turns of the event loop). */
export async function settle(turns = 8): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** An unsigned JWT with these claims (the console reads claims; the API verifies signatures). */
export function jwt(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", kid: "k" })}.${part(claims)}.c2lnbmF0dXJl`;
}

export const SALES = jwt({
  sub: "u-1",
  email: "sales@example.com",
  "cognito:groups": ["sales"],
  token_use: "id",
  exp: Math.floor(Date.now() / 1000) + 3600,
});

export const MARKETING = jwt({
  sub: "u-2",
  email: "marketing@example.com",
  "cognito:groups": ["marketing"],
  token_use: "id",
  exp: Math.floor(Date.now() / 1000) + 3600,
});

export function fill(element: Element | null, value: string): void {
  const input = element as unknown as HTMLInputElement;
  input.value = value;
  input.dispatchEvent(new window.Event("input", { bubbles: true }) as unknown as Event);
}

export function click(element: Element | null): void {
  if (!element) throw new Error("nothing to click");
  (element as HTMLElement).click();
}

export const byTestId = (id: string, root: ParentNode = document): Element | null => root.querySelector(`[data-testid="${id}"]`);
export const allByTestId = (id: string, root: ParentNode = document): Element[] => [...root.querySelectorAll(`[data-testid="${id}"]`)];
