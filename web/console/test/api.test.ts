/** The API client: the Bearer token, query strings, problem+json errors in words, 401 signs out. */
import { fakeFetch } from "./dom.ts";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Api, ApiError } from "../src/api.ts";

describe("the API client", () => {
  it("sends the ID token as a Bearer token and leaves empty filters out", async () => {
    const sent = fakeFetch(() => ({ body: { leads: [], next_cursor: null } }));
    await new Api("https://api.example.com", () => "token-1").leads({ status: "mql", sort: "sla_due_at", owner: "", model: undefined });
    assert.equal(sent[0].url, "https://api.example.com/v1/leads?status=mql&sort=sla_due_at");
    assert.equal(sent[0].headers.Authorization, "Bearer token-1");
  });

  it("escapes emails in paths and posts JSON", async () => {
    const sent = fakeFetch(() => ({ status: 202, body: { status: "recorded", outcome: "won" } }));
    await new Api("", () => "t").feedback("jane+x@acme.com", "won", "default");
    assert.equal(sent[0].url, "/v1/leads/jane%2Bx%40acme.com/feedback");
    assert.equal(sent[0].method, "POST");
    assert.equal(sent[0].headers["Content-Type"], "application/json");
    assert.deepEqual(JSON.parse(sent[0].body ?? ""), { outcome: "won", model: "default" });
  });

  it("sends a draft to validate as YAML text", async () => {
    const sent = fakeFetch(() => ({ body: { valid: true, problems: [] } }));
    await new Api("", () => "t").validate("default", "id: default\n");
    assert.equal(sent[0].headers["Content-Type"], "application/yaml");
    assert.equal(sent[0].body, "id: default\n");
  });

  it("turns problem+json into an error a person reads", async () => {
    fakeFetch(() => ({
      status: 422,
      body: {
        type: "about:blank",
        title: "Unprocessable Content",
        status: 422,
        detail: "the list's query is not valid",
        errors: [{ field: "model", message: "required: several models exist" }],
      },
    }));
    await assert.rejects(new Api("", () => "t").leads({}), (error: unknown) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 422);
      assert.equal(
        error.message,
        "Unprocessable Content: the list's query is not valid (model: required: several models exist)",
      );
      return true;
    });
  });

  it("signs out on 401 and says 403 in words", async () => {
    let signedOut = 0;
    fakeFetch((request) =>
      request.url.endsWith("/v1/models")
        ? { status: 403, body: { title: "Forbidden", status: 403, detail: "this key lacks the admin scope" } }
        : { status: 401, body: { title: "Unauthorized", status: 401, detail: "no valid key or token" } },
    );
    const api = new Api("", () => "t", () => signedOut++);
    await assert.rejects(api.models(), /Forbidden: this key lacks the admin scope/);
    assert.equal(signedOut, 0);
    await assert.rejects(api.lead("a@b.co"), /Unauthorized/);
    assert.equal(signedOut, 1);
  });
});
