/** Alerts: the recent sales notifications and whether each was delivered. */
import { useEffect, useState } from "preact/hooks";
import { ErrorBox, Loading, useLoad } from "../components";
import { useConsole } from "../context";
import { dateTime } from "../format";
import { leadHref } from "../routes";
import type { Notification } from "../types";

// The notification kinds (shared/leadscore/domain/notifications.py) as the alerts' titles say them.
const KINDS = new Map([
  ["lead.mql", "New MQL"],
  ["lead.cooled", "Lead cooled"],
  ["lead.sla_breached", "Follow-up overdue"],
  ["account.mqa", "New MQA"],
  ["account.cooled", "Account cooled"],
]);

/** "New MQL" for lead.mql; a kind it does not know as given. */
export const kindText = (kind: string): string => KINDS.get(kind) ?? kind;

export function AlertsPage() {
  const { api } = useConsole();
  const first = useLoad(() => api.notifications(null), []);
  const [rows, setRows] = useState<Notification[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setRows(first.value?.notifications ?? []);
    setCursor(first.value?.next_cursor ?? null);
  }, [first.value]);
  const more = async () => {
    try {
      const page = await api.notifications(cursor);
      setRows((before) => [...before, ...page.notifications]);
      setCursor(page.next_cursor);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section data-testid="page-alerts" aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      <ErrorBox error={first.error} />
      {first.loading && rows.length === 0 && <Loading what="the alerts" />}
      {!first.loading && rows.length === 0 && !first.error && <p>No notifications yet.</p>}
      {rows.length > 0 && (
        <table class="rows">
          <caption class="visually-hidden">Recent notifications, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Kind</th>
              <th scope="col">Subject</th>
              <th scope="col">Lead</th>
              <th scope="col">Model</th>
              <th scope="col">Delivery</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((n) => (
              <tr key={n.id} data-testid="alert-row" data-state={n.state}>
                <td data-label="Created">{dateTime(n.created_at)}</td>
                <td data-label="Kind" data-kind={n.kind}>
                  {kindText(n.kind)}
                </td>
                <td data-label="Subject">{n.subject}</td>
                <td data-label="Lead">{n.email ? <a href={leadHref(n.email)}>{n.email}</a> : "—"}</td>
                <td data-label="Model">{n.model ?? "—"}</td>
                <td data-label="Delivery">
                  <span class={n.state === "sent" ? "badge badge-ok" : "badge badge-pending"}>
                    {n.state === "sent" ? `sent ${dateTime(n.sent_at)}` : "pending"}
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorBox error={error} />
      {cursor && (
        <button type="button" onClick={more} data-testid="more">
          More
        </button>
      )}
    </section>
  );
}
