/** The sign-in form (email and password), and the new-password form Cognito may ask for. */
import { useState } from "preact/hooks";
import { type Session, setNewPassword, signIn, type SignInResult } from "../auth";
import type { Config } from "../config";

export function SignInPage(props: { config: Config; onSignedIn: (session: Session, refreshToken: string | null) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [challenge, setChallenge] = useState<{ email: string; challenge: string } | null>(null);

  const run = async (step: () => Promise<SignInResult>) => {
    setBusy(true);
    setError(null);
    try {
      const result = await step();
      if (result.kind === "new-password") setChallenge({ email: result.email, challenge: result.challenge });
      else props.onSignedIn(result.session, result.refreshToken);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    if (challenge) {
      const password = String(form.get("new-password") ?? "");
      if (password !== String(form.get("confirm-password") ?? "")) {
        setError("The two passwords differ.");
        return;
      }
      void run(() => setNewPassword(props.config, challenge.email, challenge.challenge, password));
    } else {
      const email = String(form.get("email") ?? "").trim();
      void run(() => signIn(props.config, email, String(form.get("password") ?? "")));
    }
  };

  return (
    <main id="main" class="signin" data-testid="page-signin">
      <h1>Lead scoring console</h1>
      <form onSubmit={submit} aria-describedby={error ? "signin-error" : undefined}>
        {challenge ? (
          <>
            <h2>Choose a new password</h2>
            <p>
              {challenge.email} must set a new password before the first sign-in.
            </p>
            <label for="new-password">New password</label>
            <input id="new-password" name="new-password" type="password" autocomplete="new-password" required data-testid="signin-new-password" />
            <label for="confirm-password">New password again</label>
            <input id="confirm-password" name="confirm-password" type="password" autocomplete="new-password" required data-testid="signin-confirm-password" />
          </>
        ) : (
          <>
            <h2>Sign in</h2>
            <label for="email">Email</label>
            <input id="email" name="email" type="email" autocomplete="username" required data-testid="signin-email" />
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required data-testid="signin-password" />
          </>
        )}
        {error && (
          <p id="signin-error" class="error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy} data-testid="signin-submit">
          {busy ? "Signing in…" : challenge ? "Set password and sign in" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
