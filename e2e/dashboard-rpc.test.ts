/**
 * The rpc page (examples/dashboard/rpc.html, examples/rpc/page.ts) in real
 * Chromium, served by the gateway as `npm start` serves it, with Debian's
 * `nngcat --rep0` as the Rep service behind the /rpc route: the page's Req
 * keeps several requests in flight on one WebSocket, the gateway passes each
 * to nngcat and routes nngcat's reply (its fixed --data payload) back to the
 * row that asked. nngcat prints every request it got, so what crossed the
 * wire is checked at both ends.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { metric, startGateway } from "../test-support/gateway.js";
import { freePort, startPeer, until, waitForPort } from "../test-support/peers.js";
import { dashboardDist, openExamplePage, cleanup, dashboardBrowser } from "./support/dashboard.js";

/** One table row of the rpc page, as shown. */
interface Row {
  id: string;
  state: string;
  request: string;
  reply: string;
}

describe("the rpc page in Chromium", () => {
  const browser = dashboardBrowser();

  test("gets nngcat --rep0's reply through the gateway for six requests, five of them in flight at once", { timeout: 45_000 }, async (t) => {
    const add = cleanup(t);
    const port = await freePort();
    const REPLY = "pong from nngcat";
    const nngcat = startPeer("nngcat", ["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--data", REPLY, "--quoted"]);
    add(() => nngcat.kill());
    await waitForPort(port).catch((err: Error) => {
      throw new Error(`${err.message}; nngcat stderr: ${nngcat.stderr()}`, { cause: err });
    });
    // The gateway as npm start configures it, with nngcat as its --rpc-upstream.
    const gw = await startGateway({ static: dashboardDist, routes: [{ path: "/rpc", protocol: "req", upstream: `tcp://127.0.0.1:${port}` }] });
    add(() => gw.close());
    await until(() => gw.routes.get("/rpc")!.up, "the gateway dialed nngcat");

    const d = await openExamplePage(browser(), `${gw.url.replace(/^ws/, "http")}/rpc.html`);
    add(() => d.close());
    await d.until(() => d.rpc(), (x) => x.state === "connected", "the page's Req connected");
    assert.equal(await d.text("url"), `${gw.url}/rpc`);

    // "Send 5 at once": five requests on one socket before any reply can have come (one task, no await between them).
    const pendingAfterClick = await d.page.evaluate(() => {
      document.querySelector<HTMLButtonElement>('[data-testid="rpc-send-many"]')!.click();
      return (globalThis as unknown as { __rpc: { pending: number } }).__rpc.pending;
    });
    assert.equal(pendingAfterClick, 5, "five requests in flight at once");
    // And one more from the form, typed as a person would.
    await d.page.getByTestId("rpc-text").fill("ping alone");
    await d.page.getByTestId("rpc-send").click();

    const rows = await d.until(
      () =>
        d.page.$$eval('[data-testid="rpc-row"]', (trs) =>
          trs.map((tr) => ({
            id: (tr as HTMLElement).dataset.id ?? "",
            state: (tr as HTMLElement).dataset.state ?? "",
            request: tr.querySelector(".text")?.textContent ?? "",
            reply: tr.querySelector(".reply")?.textContent ?? "",
          })),
        ),
      (rs: Row[]) => rs.length === 6 && rs.every((r) => r.state !== "pending"),
      "every row settled",
    );
    await d.screenshot("rpc-nngcat");

    // Newest first.
    assert.deepEqual(
      rows,
      [
        { id: "6", state: "ok", request: "ping alone", reply: REPLY },
        ...[5, 4, 3, 2, 1].map((i) => ({ id: String(i), state: "ok", request: `hello #${i}`, reply: REPLY })),
      ],
    );
    const tally = await d.rpc();
    assert.deepEqual({ ...tally }, { sent: 6, pending: 0, ok: 6, timeout: 0, cancelled: 0, error: 0, state: "connected" });
    assert.equal(await d.text("rpc-ok"), "6");
    assert.equal(await d.text("rpc-pending"), "0");

    // nngcat got each request once, exactly as the page typed it.
    await until(() => nngcat.stdout().toString().trimEnd().split("\n").length >= 6, "nngcat printed six requests");
    const printed = nngcat.stdout().toString().trimEnd().split("\n").sort();
    const sent = ["ping alone", ...[1, 2, 3, 4, 5].map((i) => `hello #${i}`)];
    assert.deepEqual(printed, sent.map((b) => `"${b}"`).sort(), `nngcat stderr: ${nngcat.stderr()}`);
    assert.equal(await metric(gw, "messages_total", { route: "/rpc", direction: "up" }), 6);
    assert.equal(await metric(gw, "messages_total", { route: "/rpc", direction: "down" }), 6);
    assert.deepEqual(await d.badges(), ["connecting", "connected"]);
  });
});
