/** What every page reads: the API client and the signed-in user. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Api } from "./api";
import type { Session } from "./auth";

export interface Console {
  api: Api;
  session: Session;
}

export const ConsoleContext = createContext<Console | null>(null);

export function useConsole(): Console {
  const value = useContext(ConsoleContext);
  if (!value) throw new Error("a page outside the console");
  return value;
}
