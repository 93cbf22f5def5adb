/** Renders a page inside the console's context, as a signed-in user, into a fresh body. */
import type { ComponentChildren } from "preact";
import { render } from "preact";
import { Api } from "../src/api.ts";
import { sessionOf } from "../src/auth.ts";
import { ConsoleContext } from "../src/context.ts";

export function mount(page: ComponentChildren, idToken: string): HTMLElement {
  document.body.innerHTML = "";
  const root = document.createElement("div");
  document.body.append(root);
  const session = sessionOf(idToken);
  const api = new Api("", () => idToken);
  render(<ConsoleContext.Provider value={{ api, session }}>{page}</ConsoleContext.Provider>, root);
  return root;
}

export function unmount(root: HTMLElement): void {
  render(null, root);
}
