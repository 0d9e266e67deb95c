/**
 * What a page shows about its socket's link to the gateway, from the socket's
 * own events (no polling):
 *
 * - `pipeadd`: connected; the failed-attempt count starts over.
 * - `piperemove`: reconnecting (the dialer redials on its own). A pipe the
 *   gateway closed carries the close frame in `error.cause` (`{ code, reason }`,
 *   e.g. 1001 when the gateway stops).
 * - `dialerror`: reconnecting, attempt n. A refused upgrade (4401 token
 *   missing, 4404 no route, 4429 too many ...) is a failed dial whose
 *   `error.cause.code` is the close code; a gateway that is down gives none.
 *
 * A subscription change on a gateway Sub also closes and redials its pipe: the
 * page sees reconnecting for the moment that takes.
 */
import type { BrowserSocket as Socket, SPError } from "@spwire/core/browser";

export type LinkState = "connecting" | "connected" | "reconnecting";

export interface LinkView {
  state: LinkState;
  /** Failed dial attempts since the last pipe was added. */
  attempts: number;
  /** How the last pipe ended or the last attempt failed, for people: "closed 1001 (gateway shutting down)", "refused 4404 (no-route)", "dial failed: ECONNREFUSED". */
  last: string;
}

/** Call `changed` with the link's view whenever it changes; returns the function that stops watching. */
export function watchLink(socket: Socket, changed: (v: LinkView) => void): () => void {
  const view: LinkView = { state: "connecting", attempts: 0, last: "" };
  const offs = [
    socket.on("pipeadd", () => {
      view.state = "connected";
      view.attempts = 0;
      changed(view);
    }),
    socket.on("piperemove", ({ error }) => {
      if (socket.closed) return;
      if (socket.pipes.length === 0) view.state = "reconnecting";
      if (error !== undefined) view.last = describe("closed", "lost", error);
      changed(view);
    }),
    socket.on("dialerror", ({ error, attempt }) => {
      view.state = "reconnecting";
      view.attempts = attempt;
      view.last = describe("refused", "dial failed", error);
      changed(view);
    }),
  ];
  changed(view);
  return () => {
    for (const off of offs) off();
  };
}

/** The close code and reason when the error carries a WebSocket close (`error.cause`), else the SPError code. */
function describe(verb: string, otherwise: string, error: SPError): string {
  const cause = error.cause as { code?: unknown; reason?: unknown } | undefined;
  if (typeof cause === "object" && cause !== null && typeof cause.code === "number") {
    const reason = typeof cause.reason === "string" && cause.reason !== "" ? ` (${cause.reason})` : "";
    return `${verb} ${cause.code}${reason}`;
  }
  return `${otherwise}: ${error.code}`;
}
