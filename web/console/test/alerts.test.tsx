/** The alerts page: each notification's kind in words and its delivery state. */
import { allByTestId, fakeFetch, SALES, settle } from "./dom.ts";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AlertsPage } from "../src/pages/alerts.tsx";
import { mount, unmount } from "./mount.tsx";

const alert = (id: string, kind: string, state: "sent" | "pending") => ({
  id,
  kind,
  email: kind.startsWith("lead.") ? "ada@corp.io" : null,
  model: "default",
  subject: `${id} subject`,
  created_at: "2025-01-02T10:00:00Z",
  state,
  sent_at: state === "sent" ? "2025-01-02T10:00:05Z" : null,
});

describe("the alerts", () => {
  it("says each kind in words, and whether it was delivered", async () => {
    const kinds = ["lead.mql", "lead.cooled", "lead.sla_breached", "account.mqa", "account.cooled", "lead.future_kind"];
    fakeFetch((request) =>
      request.url.startsWith("/v1/notifications")
        ? { body: { notifications: kinds.map((kind, n) => alert(`n${n}`, kind, n === 0 ? "pending" : "sent")), next_cursor: null } }
        : undefined,
    );
    const root = mount(<AlertsPage />, SALES);
    await settle();
    const rows = allByTestId("alert-row");
    const shown = rows.map((row) => row.querySelector('[data-label="Kind"]')?.textContent);
    assert.deepEqual(shown, ["New MQL", "Lead cooled", "Follow-up overdue", "New MQA", "Account cooled", "lead.future_kind"]);
    assert.match(rows[0].textContent ?? "", /pending/);
    assert.match(rows[1].textContent ?? "", /sent /);
    unmount(root);
  });
});
