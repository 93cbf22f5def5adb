/** The console's hash routes: #/queue, #/leads/<email>, #/accounts/<domain>, #/models[/<id>], #/alerts, #/signin. */

export type Route =
  | { page: "queue" }
  | { page: "lead"; email: string }
  | { page: "account"; domain: string }
  | { page: "models" }
  | { page: "model"; id: string }
  | { page: "alerts" }
  | { page: "signin" }
  | { page: "missing"; hash: string };

export function parseRoute(hash: string): Route {
  const [name = "", ...rest] = hash.replace(/^#\/?/, "").split("/");
  let param = "";
  try {
    param = decodeURIComponent(rest.join("/"));
  } catch {
    return { page: "missing", hash };
  }
  if (name === "" || name === "queue") return { page: "queue" };
  if (name === "alerts" && !param) return { page: "alerts" };
  if (name === "signin") return { page: "signin" };
  if (name === "models") return param ? { page: "model", id: param } : { page: "models" };
  if (name === "leads" && param) return { page: "lead", email: param };
  if (name === "accounts" && param) return { page: "account", domain: param };
  return { page: "missing", hash };
}

export const leadHref = (email: string): string => `#/leads/${encodeURIComponent(email)}`;
export const accountHref = (domain: string): string => `#/accounts/${encodeURIComponent(domain)}`;
export const modelHref = (id: string): string => `#/models/${encodeURIComponent(id)}`;
