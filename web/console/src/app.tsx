/** The console: sign-in, the top navigation the user's groups allow, and the page of the route. */
import { useEffect, useMemo, useState } from "preact/hooks";
import { Api } from "./api";
import { forgetSession, isMarketing, refresh, type Session, saveSession, storedSession } from "./auth";
import { Loading, useLoad } from "./components";
import type { Config } from "./config";
import { ConsoleContext } from "./context";
import { AccountPage } from "./pages/account";
import { AlertsPage } from "./pages/alerts";
import { LeadPage } from "./pages/lead";
import { ModelsPage } from "./pages/models";
import { QueuePage } from "./pages/queue";
import { SignInPage } from "./pages/signin";
import { parseRoute, type Route } from "./routes";

/** The pages in the top navigation, and who sees them. */
const NAV: { page: Route["page"]; href: string; label: string; marketing: boolean }[] = [
  { page: "queue", href: "#/queue", label: "Queue", marketing: false },
  { page: "alerts", href: "#/alerts", label: "Alerts", marketing: false },
  { page: "models", href: "#/models", label: "Models", marketing: true },
];

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** The model editor (CodeMirror, YAML) is loaded only when a model is opened. */
function ModelEditorPage({ id }: { id: string }) {
  const loaded = useLoad(() => import("./pages/model"), []);
  if (loaded.error) return <p role="alert" class="error">The editor could not be loaded.</p>;
  if (!loaded.value) return <Loading what="the model editor" />;
  const { ModelPage } = loaded.value;
  return <ModelPage id={id} />;
}

function Forbidden() {
  return (
    <section data-testid="page-forbidden">
      <h1>Not allowed</h1>
      <p role="alert">Models are for marketing: your account is in the sales group.</p>
    </section>
  );
}

function Page({ route, session }: { route: Route; session: Session }) {
  switch (route.page) {
    case "queue":
    case "signin":
      return <QueuePage />;
    case "lead":
      return <LeadPage email={route.email} />;
    case "account":
      return <AccountPage domain={route.domain} />;
    case "alerts":
      return <AlertsPage />;
    case "models":
      return isMarketing(session) ? <ModelsPage /> : <Forbidden />;
    case "model":
      return isMarketing(session) ? <ModelEditorPage id={route.id} /> : <Forbidden />;
    default:
      return (
        <section data-testid="page-missing">
          <h1>No such page</h1>
          <p>
            <a href="#/queue">Go to the queue</a>
          </p>
        </section>
      );
  }
}

let refreshToken: string | null = null;

export function App({ config }: { config: Config }) {
  const [session, setSession] = useState<Session | null>(() => storedSession());
  const route = useRoute();

  const signOut = () => {
    forgetSession();
    refreshToken = null;
    setSession(null);
  };

  const api = useMemo(
    () =>
      new Api(
        config.api,
        async () => {
          // An ID token lasts an hour: a minute before it ends, the refresh token (memory only) renews it.
          if (session && session.expiresAt - Date.now() < 60_000 && refreshToken) {
            const renewed = await refresh(config, refreshToken);
            if (renewed) {
              saveSession(renewed);
              setSession(renewed);
              return renewed.idToken;
            }
          }
          return session?.idToken ?? null;
        },
        signOut,
      ),
    [config, session],
  );

  useEffect(() => {
    const main = document.getElementById("main");
    if (session && main && route.page !== "queue") main.focus({ preventScroll: true });
  }, [route, session]);

  if (!session) {
    return (
      <SignInPage
        config={config}
        onSignedIn={(signedIn, refreshWith) => {
          saveSession(signedIn);
          refreshToken = refreshWith;
          setSession(signedIn);
          if (route.page === "signin") location.hash = "#/queue";
        }}
      />
    );
  }

  const current = route.page === "lead" || route.page === "account" ? "queue" : route.page === "model" ? "models" : route.page;
  return (
    <ConsoleContext.Provider value={{ api, session }}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to the page
      </a>
      <header class="top">
        <span class="brand">Lead scoring</span>
        <nav aria-label="Pages">
          <ul>
            {NAV.filter((item) => !item.marketing || isMarketing(session)).map((item) => (
              <li key={item.page}>
                <a href={item.href} aria-current={current === item.page ? "page" : undefined} data-testid={`nav-${item.page}`}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="user" data-testid="user">
          {session.email} ({session.groups.join(", ") || "no group"})
        </span>
        <button type="button" onClick={signOut} data-testid="signout">
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} session={session} />
      </main>
    </ConsoleContext.Provider>
  );
}
