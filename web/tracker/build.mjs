// Builds the snippet, minified, to shared/leadscore/api/static/t.js and prints its sizes;
// `--tests` builds the tests (TypeScript) to node_modules/.cache/tracker-tests for `node --test`.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

export const SNIPPET = new URL("../../shared/leadscore/api/static/t.js", import.meta.url);
const TESTS = new URL("node_modules/.cache/tracker-tests/", import.meta.url);
const BUDGET = 3072;

if (process.argv.includes("--tests")) {
  rmSync(TESTS, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: ["test/*.test.ts"],
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: TESTS.pathname,
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
} else {
  mkdirSync(new URL(".", SNIPPET), { recursive: true });
  await esbuild.build({
    entryPoints: ["src/t.ts"],
    bundle: true,
    minify: true,
    format: "iife",
    // Browsers of 2018 on (Safari 12, Chrome 64, Firefox 58): `??` and `?.` are rewritten.
    target: "es2018",
    legalComments: "none",
    outfile: SNIPPET.pathname,
    logLevel: "warning",
  });
  const minified = readFileSync(SNIPPET);
  const gzipped = gzipSync(minified, { level: 9 }).length;
  console.log(
    `t.js: ${minified.length} bytes minified, ${gzipped} bytes gzipped (budget ${BUDGET})`,
  );
}
