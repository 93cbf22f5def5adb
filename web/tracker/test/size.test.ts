/** The snippet's size budget: 3 KB gzipped. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { gzipSync } from "node:zlib";
import { SNIPPET } from "./page.ts";

it("is at most 3,072 bytes gzipped", () => {
  const gzipped = gzipSync(SNIPPET, { level: 9 }).length;
  assert.ok(gzipped <= 3072, `t.js is ${gzipped} bytes gzipped`);
});
