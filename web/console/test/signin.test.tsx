/** Sign-in: InitiateAuth by fetch, the token kept for reloads, groups read, the new-password challenge. */
import { byTestId, click, fakeFetch, fill, MARKETING, SALES, settle } from "./dom.ts";
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { render } from "preact";
import { App } from "../src/app.tsx";
import { isMarketing, sessionOf, signIn, storedSession } from "../src/auth.ts";
import type { Config } from "../src/config.ts";

const CONFIG: Config = {
  api: "",
  region: "us-east-1",
  userPoolId: "us-east-1_pool",
  clientId: "client-1",
  cognitoEndpoint: "http://127.0.0.1:5000/",
};

function start(): HTMLElement {
  document.body.innerHTML = "";
  const root = document.createElement("div");
  document.body.append(root);
  render(<App config={CONFIG} />, root);
  return root;
}

beforeEach(() => {
  sessionStorage.clear();
  location.hash = "#/queue";
});

describe("sign-in", () => {
  it("posts USER_PASSWORD_AUTH to the Cognito endpoint and reads the groups", async () => {
    const sent = fakeFetch(() => ({ body: { AuthenticationResult: { IdToken: SALES, RefreshToken: "r" } } }));
    const result = await signIn(CONFIG, "sales@example.com", "Sales-demo-1");
    assert.equal(sent[0].url, "http://127.0.0.1:5000/");
    assert.equal(sent[0].headers["X-Amz-Target"], "AWSCognitoIdentityProviderService.InitiateAuth");
    assert.equal(sent[0].headers["Content-Type"], "application/x-amz-json-1.1");
    assert.deepEqual(JSON.parse(sent[0].body ?? ""), {
      ClientId: "client-1",
      AuthFlow: "USER_PASSWORD_AUTH",
      AuthParameters: { USERNAME: "sales@example.com", PASSWORD: "Sales-demo-1" },
    });
    assert.equal(result.kind, "signed-in");
    if (result.kind !== "signed-in") return;
    assert.deepEqual(result.session.groups, ["sales"]);
    assert.equal(result.session.email, "sales@example.com");
    assert.equal(isMarketing(result.session), false);
    assert.equal(isMarketing(sessionOf(MARKETING)), true);
  });

  it("signs in from the form, keeps the token for reloads and shows the pages of the groups", async () => {
    fakeFetch((request) =>
      request.url.startsWith("http://127.0.0.1:5000")
        ? { body: { AuthenticationResult: { IdToken: SALES, RefreshToken: "r" } } }
        : { body: { leads: [], next_cursor: null } },
    );
    start();
    await settle();
    assert.ok(byTestId("page-signin"));
    fill(byTestId("signin-email"), "sales@example.com");
    fill(byTestId("signin-password"), "Sales-demo-1");
    click(byTestId("signin-submit"));
    await settle();
    assert.ok(byTestId("page-queue"), "the queue follows the sign-in");
    assert.equal(storedSession()?.idToken, SALES);
    const nav = [...document.querySelectorAll("nav a")].map((a) => a.textContent);
    assert.deepEqual(nav, ["Queue", "Alerts"]);
    click(byTestId("signout"));
    await settle();
    assert.ok(byTestId("page-signin"));
    assert.equal(storedSession(), null);
  });

  it("shows marketing the models page and sales a refusal there", async () => {
    fakeFetch(() => ({ body: { models: [{ id: "default", version: 3, published_at: 1_700_000_000 }] } }));
    sessionStorage.setItem("leadscore.session", MARKETING);
    location.hash = "#/models";
    start();
    await settle();
    assert.deepEqual([...document.querySelectorAll("nav a")].map((a) => a.textContent), ["Queue", "Alerts", "Models"]);
    assert.ok(byTestId("page-models"));
    assert.equal(byTestId("model-row")?.textContent?.includes("default"), true);

    sessionStorage.setItem("leadscore.session", SALES);
    start();
    await settle();
    assert.equal(byTestId("page-models"), null);
    assert.ok(byTestId("page-forbidden"));
  });

  it("shows Cognito's message when the password is wrong", async () => {
    fakeFetch(() => ({
      status: 400,
      type: "application/x-amz-json-1.1",
      body: { __type: "NotAuthorizedException", message: "Incorrect username or password." },
    }));
    start();
    fill(byTestId("signin-email"), "sales@example.com");
    fill(byTestId("signin-password"), "wrong");
    click(byTestId("signin-submit"));
    await settle();
    assert.equal(byTestId("signin-error")?.textContent, "Incorrect username or password.");
    assert.equal(byTestId("signin-error")?.getAttribute("role"), "alert");
    assert.equal(storedSession(), null);
  });

  it("answers NEW_PASSWORD_REQUIRED with a new-password form", async () => {
    const sent = fakeFetch((request) => {
      if (request.headers["X-Amz-Target"]?.endsWith("InitiateAuth")) {
        return { body: { ChallengeName: "NEW_PASSWORD_REQUIRED", Session: "challenge-1" } };
      }
      if (request.headers["X-Amz-Target"]?.endsWith("RespondToAuthChallenge")) {
        return { body: { AuthenticationResult: { IdToken: MARKETING } } };
      }
      return { body: { leads: [], next_cursor: null } };
    });
    start();
    fill(byTestId("signin-email"), "marketing@example.com");
    fill(byTestId("signin-password"), "Temporary-1");
    click(byTestId("signin-submit"));
    await settle();
    assert.ok(byTestId("signin-new-password"), "the new-password form");
    fill(byTestId("signin-new-password"), "Marketing-new-1");
    fill(byTestId("signin-confirm-password"), "Marketing-new-1");
    click(byTestId("signin-submit"));
    await settle();
    const answer = JSON.parse(sent[1].body ?? "");
    assert.deepEqual(answer, {
      ClientId: "client-1",
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      Session: "challenge-1",
      ChallengeResponses: { USERNAME: "marketing@example.com", NEW_PASSWORD: "Marketing-new-1" },
    });
    assert.equal(storedSession()?.idToken, MARKETING);
    assert.ok(byTestId("page-queue"));
  });

  it("drops an expired token kept from an earlier visit", () => {
    sessionStorage.setItem("leadscore.session", SALES);
    assert.equal(storedSession(Date.now() + 7200_000), null);
    assert.equal(sessionStorage.getItem("leadscore.session"), null);
  });
});
