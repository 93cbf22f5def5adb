/** The models a user can pick in filters: the catalogue for marketing, else those seen on leads. */
import type { Api } from "./api";

const SEEN = "leadscore.models";

export function rememberModels(ids: string[]): void {
  try {
    const known = new Set(seenModels());
    ids.forEach((id) => known.add(id));
    localStorage.setItem(SEEN, JSON.stringify([...known].sort()));
  } catch {
    // Storage full or refused: the list is a convenience only.
  }
}

export function seenModels(): string[] {
  try {
    const value = JSON.parse(localStorage.getItem(SEEN) ?? "[]") as unknown;
    return Array.isArray(value) ? value.map(String) : [];
  } catch {
    return [];
  }
}

/** GET /v1/models needs the admin scope: sales users get the models seen on leads they opened. */
export async function knownModels(api: Api, marketing: boolean): Promise<string[]> {
  if (!marketing) return seenModels();
  const { models } = await api.models();
  const ids = models.map((m) => m.id);
  rememberModels(ids);
  return ids;
}
