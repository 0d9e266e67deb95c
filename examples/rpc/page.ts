/**
 * The rpc page (examples/dashboard/rpc.html): a `Req` of the browser build dialed to the
 * gateway's `/rpc` route, which passes each request to a Rep service
 * (examples/rpc/service.ts, or any nng REP) and routes the reply back by its
 * request id. One socket carries many requests at once; each has its own
 * timeout (`{ timeout }`, rejecting with ETIMEDOUT) and its own
 * AbortController (`{ signal }`: Cancel rejects it with the signal's reason).
 *
 * Each request is a table row, `data-testid="rpc-row"`, whose `data-state`
 * is pending, then one of ok, timeout, cancelled or error. `window.__rpc`
 * holds the tallies for tests.
 */
import { Req, isSPError } from "@spwire/core/browser";
import "../dashboard/src/style.css";
import { watchLink } from "../dashboard/src/link.js";

export type RequestState = "pending" | "ok" | "timeout" | "cancelled" | "error";

/** What tests read from `window.__rpc`. */
export interface RpcPageState {
  sent: number;
  pending: number;
  ok: number;
  timeout: number;
  cancelled: number;
  error: number;
  /** "connecting" | "connected" | "reconnecting". */
  state: string;
}

declare global {
  interface Window {
    __rpc?: RpcPageState;
  }
}

/** Rows kept on the page; older ones are removed (a pending one still settles, off-screen). */
const MAX_ROWS = 100;
const DEFAULT_TIMEOUT = 2000;

const $ = <T extends HTMLElement = HTMLElement>(testid: string): T => {
  const el = document.querySelector<T>(`[data-testid="${testid}"]`);
  if (el === null) throw new Error(`the page has no element with data-testid="${testid}"`);
  return el;
};

const tally: RpcPageState = { sent: 0, pending: 0, ok: 0, timeout: 0, cancelled: 0, error: 0, state: "connecting" };
window.__rpc = tally;

const rows = $<HTMLTableSectionElement>("rpc-rows");
const textInput = $<HTMLInputElement>("rpc-text");
const timeoutInput = $<HTMLInputElement>("rpc-timeout");
const tallyEls = {
  pending: $("rpc-pending"),
  ok: $("rpc-ok"),
  timeout: $("rpc-timedout"),
  cancelled: $("rpc-cancelled"),
  error: $("rpc-failed"),
};

const req = new Req();
watchLink(req, (v) => {
  tally.state = v.state;
  const badge = $("badge");
  badge.textContent = v.state;
  badge.dataset.state = v.state;
  $("attempts").textContent = String(v.attempts);
  $("last-close").textContent = v.last;
});

const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rpc`;
$("url").textContent = url;
req.dial(url);

let seq = 0;

/** Send one request and follow it in a new row. */
function send(text: string): void {
  const id = ++seq;
  const asked = Number(timeoutInput.value);
  const timeout = Number.isFinite(asked) && asked > 0 ? asked : DEFAULT_TIMEOUT;
  const ac = new AbortController();
  const t0 = performance.now();

  const tr = document.createElement("tr");
  tr.dataset.testid = "rpc-row";
  tr.dataset.id = String(id);
  const cell = (name: string): HTMLTableCellElement => {
    const td = document.createElement("td");
    td.className = name;
    tr.append(td);
    return td;
  };
  const [idCell, textCell, stateCell, rttCell, replyCell] = [cell("id"), cell("text"), cell("state"), cell("rtt"), cell("reply")];
  idCell.textContent = String(id);
  textCell.textContent = text;
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  cancel.dataset.testid = "rpc-cancel";
  cancel.addEventListener("click", () => ac.abort(new DOMException(`request ${id} cancelled on the page`, "AbortError")));
  const cancelCell = document.createElement("td");
  cancelCell.append(cancel);
  tr.append(cancelCell);
  rows.prepend(tr);
  while (rows.childElementCount > MAX_ROWS) rows.lastElementChild!.remove();

  const show = (state: RequestState, detail: string): void => {
    tr.dataset.state = state;
    stateCell.textContent = state === "timeout" ? "timed out" : state;
    replyCell.textContent = detail;
    replyCell.title = detail;
    for (const [k, el] of Object.entries(tallyEls)) el.textContent = String(tally[k as keyof typeof tallyEls]);
  };
  const settle = (state: Exclude<RequestState, "pending">, detail: string): void => {
    tally.pending--;
    tally[state]++;
    rttCell.textContent = `${(performance.now() - t0).toFixed(1)} ms`;
    cancel.disabled = true;
    show(state, detail);
  };

  tally.sent++;
  tally.pending++;
  show("pending", `timeout ${timeout} ms`);
  req.request(text, { timeout, signal: ac.signal }).then(
    (reply) => settle("ok", reply.text()),
    (err: unknown) => {
      // An abort rejects with the signal's reason itself, so identity tells a cancel from a failure.
      if (ac.signal.aborted && err === ac.signal.reason) settle("cancelled", "cancelled before a reply came");
      else if (isSPError(err, "ETIMEDOUT")) settle("timeout", `no reply within ${timeout} ms`);
      else settle("error", String(err));
    },
  );
}

$<HTMLFormElement>("rpc-form").addEventListener("submit", (e) => {
  e.preventDefault();
  send(textInput.value);
});
$("rpc-send-many").addEventListener("click", () => {
  for (let i = 1; i <= 5; i++) send(`${textInput.value} #${i}`);
});
$("rpc-send-slow").addEventListener("click", () => send("slow"));
