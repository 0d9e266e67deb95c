/**
 * The soak (soak/soak.ts, `npm run soak`) in its short form, so it runs with
 * every `npm test` and cannot rot: 100 WebSocket clients churning through a
 * gateway in a child process for 5 s, plus 5 Req clients. Every check the
 * long soak makes must pass here too: file descriptors and heap back to the
 * baseline, no warn/error log line, every request answered, no client error.
 * It writes no result file: soak/last-result.md records the long run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runSoak, summary } from "../../../soak/soak.js";

test("soak, short: 100 clients churning for 5 s leave the gateway as they found it", { timeout: 120_000 }, async () => {
  const r = await runSoak({ duration: 5, clients: 100, reqClients: 5 });
  const text = summary(r);
  // Not vacuous: every kind of round happened, messages and replies flowed.
  assert.ok(r.rounds.completed >= 100, text);
  assert.ok(r.rounds.cleanCloses > 0 && r.rounds.drops > 0 && r.rounds.spwireSubs > 0 && r.rounds.aborted > 0, text);
  assert.ok(r.messages.received >= r.rounds.completed, text);
  assert.ok(r.requests.sent >= 25, text);
  assert.ok(r.fds.peak > r.fds.baseline, `the clients held descriptors at the gateway: ${text}`);
  assert.deepEqual(
    r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
    [],
    text,
  );
  assert.equal(r.ok, true);
});
