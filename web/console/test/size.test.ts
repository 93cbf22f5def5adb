/** The first load's budget: index.html, app.js with its static chunks and app.css, gzipped. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
// @ts-expect-error: the build's own helper is plain JavaScript.
import { BUDGET, firstLoad, lazyChunks } from "../sizes.mjs";

const DIST = new URL("../../../dist/", import.meta.url);

it("loads at most 150 KB gzipped before the console runs", () => {
  const first = firstLoad(DIST);
  assert.ok(first.files.some((f: { name: string }) => f.name === "app.js"));
  assert.ok(first.gzipped <= BUDGET, `first load ${first.gzipped} bytes gzipped`);
});

it("keeps CodeMirror out of the first load", () => {
  const first = firstLoad(DIST);
  const editor = (name: string) => readFileSync(new URL(name, DIST), "utf8").includes("cm-content");
  assert.ok(!first.files.some((f: { name: string }) => editor(f.name)), "CodeMirror in the first load");
  assert.ok(lazyChunks(DIST, first).some((c: { name: string }) => editor(c.name)), "no lazy editor chunk");
});
