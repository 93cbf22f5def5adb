/** Sign-in with the Cognito user pool (USER_PASSWORD_AUTH by fetch) and the session it gives. */
import type { Config } from "./config";

export interface Session {
  idToken: string;
  email: string;
  groups: string[];
  /** Epoch milliseconds when the ID token expires. */
  expiresAt: number;
}

export type SignInResult =
  | { kind: "signed-in"; session: Session; refreshToken: string | null }
  | { kind: "new-password"; email: string; challenge: string };

const STORED = "leadscore.session";

/** Cognito's answer to a refused sign-in (`NotAuthorizedException`...), its message shown. */
export class SignInError extends Error {}

/** The claims of a JWT (not verified: the API verifies it; the console only reads them). */
export function tokenClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) throw new SignInError("the token is not a JWT");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")), (c) =>
    c.charCodeAt(0),
  );
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

export function sessionOf(idToken: string): Session {
  const claims = tokenClaims(idToken);
  const groups = claims["cognito:groups"];
  return {
    idToken,
    email: String(claims.email ?? claims["cognito:username"] ?? ""),
    groups: Array.isArray(groups) ? groups.map(String) : [],
    expiresAt: Number(claims.exp ?? 0) * 1000,
  };
}

/** Marketing is the API's admin scope: models, rescoring, erasure. */
export const isMarketing = (session: Session): boolean => session.groups.includes("marketing");

async function cognito(config: Config, action: string, body: object): Promise<Record<string, any>> {
  let response: Response;
  try {
    response = await fetch(config.cognitoEndpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify({ ClientId: config.clientId, ...body }),
    });
  } catch {
    throw new SignInError("The sign-in service cannot be reached. Check your connection.");
  }
  const answer = (await response.json().catch(() => ({}))) as Record<string, any>;
  if (!response.ok) {
    const kind = String(answer.__type ?? "").split("#").pop();
    throw new SignInError(answer.message || answer.Message || kind || `HTTP ${response.status}`);
  }
  return answer;
}

function result(answer: Record<string, any>, email: string): SignInResult {
  if (answer.ChallengeName === "NEW_PASSWORD_REQUIRED") {
    return { kind: "new-password", email, challenge: String(answer.Session) };
  }
  const tokens = answer.AuthenticationResult;
  if (!tokens?.IdToken) {
    throw new SignInError(`This sign-in needs ${answer.ChallengeName ?? "a step"} the console does not offer.`);
  }
  return { kind: "signed-in", session: sessionOf(tokens.IdToken), refreshToken: tokens.RefreshToken ?? null };
}

export async function signIn(config: Config, email: string, password: string): Promise<SignInResult> {
  const answer = await cognito(config, "InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  return result(answer, email);
}

/** Answers NEW_PASSWORD_REQUIRED (a user created by an admin signs in the first time). */
export async function setNewPassword(
  config: Config,
  email: string,
  challenge: string,
  password: string,
): Promise<SignInResult> {
  const answer = await cognito(config, "RespondToAuthChallenge", {
    ChallengeName: "NEW_PASSWORD_REQUIRED",
    Session: challenge,
    ChallengeResponses: { USERNAME: email, NEW_PASSWORD: password },
  });
  return result(answer, email);
}

/** A new ID token from the refresh token (kept in memory only), or null. */
export async function refresh(config: Config, refreshToken: string): Promise<Session | null> {
  try {
    const answer = await cognito(config, "InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH",
      AuthParameters: { REFRESH_TOKEN: refreshToken },
    });
    const token = answer.AuthenticationResult?.IdToken;
    return token ? sessionOf(token) : null;
  } catch {
    return null;
  }
}

/** The ID token is kept for reloads of this tab only (sessionStorage), never longer. */
export function saveSession(session: Session): void {
  sessionStorage.setItem(STORED, session.idToken);
}

export function storedSession(now = Date.now()): Session | null {
  const token = sessionStorage.getItem(STORED);
  if (!token) return null;
  try {
    const session = sessionOf(token);
    if (session.expiresAt > now) return session;
  } catch {
    // A damaged value: signed out.
  }
  sessionStorage.removeItem(STORED);
  return null;
}

export function forgetSession(): void {
  sessionStorage.removeItem(STORED);
}
