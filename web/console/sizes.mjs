// The console's sizes: the first load (index.html, app.js and the chunks it imports
// statically, app.css) and the chunks loaded later by dynamic import.
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

export const BUDGET = 150 * 1024;

const gzipped = (url) => gzipSync(readFileSync(url), { level: 9 }).length;

/** The files a browser fetches before the console runs, with their gzipped sizes. */
export function firstLoad(dist) {
  const names = ["index.html", "app.css"];
  const pending = ["app.js"];
  while (pending.length > 0) {
    const name = pending.pop();
    if (names.includes(name)) continue;
    names.push(name);
    const code = readFileSync(new URL(name, dist), "utf8");
    // Static imports only (`import{a}from"./chunks/x.js"`, `import"./chunks/y.js"`):
    // `import("./chunks/z.js")` is a lazy chunk.
    for (const match of code.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[^"'()]*?from\s*)?["']\.\/([^"']+)["']/g)) {
      const path = new URL(match[1], new URL(name, dist)).pathname;
      pending.push(path.slice(new URL(".", dist).pathname.length));
    }
  }
  const files = names.map((name) => ({ name, gzipped: gzipped(new URL(name, dist)) }));
  return { files, gzipped: files.reduce((sum, file) => sum + file.gzipped, 0) };
}

/** Every chunk not in the first load. */
export function lazyChunks(dist, first) {
  const loaded = new Set(first.files.map((file) => file.name));
  return readdirSync(new URL("chunks/", dist))
    .map((name) => `chunks/${name}`)
    .filter((name) => !loaded.has(name))
    .map((name) => ({ name, gzipped: gzipped(new URL(name, dist)) }));
}
