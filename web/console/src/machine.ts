/** Why an email open or click was taken for a machine's (shared/leadscore/domain/machine.py), in words. */

const REASONS = new Map([
  ["apple_mpp", "Apple Mail Privacy Protection fetched the images"],
  ["open_at_delivery", "opened within 10 s of delivery (a scanner)"],
  ["click_at_delivery", "clicked within 10 s of delivery (a scanner)"],
  ["click_burst", "another link of the message clicked within 1 s (a scanner)"],
  ["click_before_open", "clicked within a minute of delivery, before any open (a scanner)"],
  ["provider_flag", "flagged as a machine's by your systems"],
  ["provider_flag:sg_machine_open", "SendGrid flagged a machine open (Apple Mail Privacy Protection)"],
  ["provider_flag:proxy_open", "Brevo reported a privacy proxy's open"],
  ["provider_flag:unique_proxy_open", "Brevo reported a privacy proxy's open"],
]);

// Reasons with a detail: the pattern, and its words around the detail.
const DETAILED: [RegExp, (detail: string) => string][] = [
  [/^provider_flag:mailgun_bot:(.+)$/, (bot) => `Mailgun's bot detection flagged it (${bot})`],
  [/^provider_flag:(.+)$/, (flag) => `the email provider flagged a machine (${flag})`],
  [/^user_agent:(.+)$/, (word) => `the user agent names a scanner or bot (${word})`],
];

function words(reason: string): string {
  const known = REASONS.get(reason);
  if (known) return known;
  for (const [pattern, say] of DETAILED) {
    const found = pattern.exec(reason);
    if (found) return say(found[1]);
  }
  return reason; // the user's own system's words (`properties.machine` on POST /v1/events)
}

/** "machine activity: clicked within 10 s of delivery (a scanner)". */
export const machineWhy = (reason: string): string => `machine activity: ${words(reason)}`;
