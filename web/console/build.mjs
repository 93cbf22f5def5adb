// Builds the console into dist/ (index.html, app.js, hashed chunks, app.css) and prints the
// first load's gzipped size against its budget; `--tests` builds the tests (TypeScript) to
// node_modules/.cache/console-tests for `node --test`.
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import * as esbuild from "esbuild";
import { BUDGET, firstLoad, lazyChunks } from "./sizes.mjs";

const DIST = new URL("dist/", import.meta.url);
const TESTS = new URL("node_modules/.cache/console-tests/", import.meta.url);
const common = {
  bundle: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  logLevel: "warning",
};

if (process.argv.includes("--tests")) {
  rmSync(TESTS, { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: ["test/*.test.ts", "test/*.test.tsx"],
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["happy-dom"],
    // CommonJS dependencies (yaml's node build) require node's modules.
    banner: { js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);' },
    outdir: TESTS.pathname,
    outExtension: { ".js": ".mjs" },
    loader: { ".css": "empty" },
  });
} else {
  rmSync(DIST, { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: { app: "src/main.tsx" },
    format: "esm",
    splitting: true,
    minify: true,
    // Browsers of 2020 on: ES modules with dynamic import, `??` and `?.` kept.
    target: "es2020",
    legalComments: "none",
    outdir: DIST.pathname,
    chunkNames: "chunks/[name]-[hash]",
    assetNames: "assets/[name]-[hash]",
  });
  // app.js and app.css keep their names (index.html names them): a query of their content's
  // hash makes a browser fetch them again after a change; the chunks are named by theirs.
  const version = (name) =>
    createHash("sha256").update(readFileSync(new URL(name, DIST))).digest("hex").slice(0, 12);
  const html = readFileSync("src/index.html", "utf8")
    .replace('href="app.css"', `href="app.css?v=${version("app.css")}"`)
    .replace('src="app.js"', `src="app.js?v=${version("app.js")}"`);
  writeFileSync(new URL("index.html", DIST), html);

  const first = firstLoad(DIST);
  for (const file of first.files) console.log(`  ${file.name}: ${file.gzipped} bytes gzipped`);
  console.log(`first load: ${first.gzipped} bytes gzipped (budget ${BUDGET})`);
  for (const chunk of lazyChunks(DIST, first)) {
    console.log(`  lazy ${chunk.name}: ${chunk.gzipped} bytes gzipped`);
  }
}
