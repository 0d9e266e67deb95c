/**
 * The interop matrix of issue #3 as data, and the Markdown table made from a
 * run's results. Test-only: `interop-matrix.test.ts` fills the results by
 * running spwire against the real nngcat and nanocat; this module only knows
 * which cells exist, which ones a peer cannot run, and how to print them, so
 * the table can be tested without any peer installed
 * (`interop-matrix-table.test.ts`).
 *
 * A row is a protocol pair, spwire's socket first: `req->rep` is a spwire Req
 * against the peer's rep, `rep<-req` a spwire Rep against the peer's req. A
 * column is peer × transport × the role spwire takes (it dials the peer's
 * listener, or listens and the peer dials).
 */

export type PeerName = "nngcat" | "nanocat";
export type Scheme = "ws" | "wss" | "tcp" | "tls+tcp" | "ipc";
/** The role spwire takes in a cell; the peer takes the other one. */
export type Role = "dialer" | "listener";
/** Protocol names as nng spells them. */
export type Proto =
  | "pair0"
  | "pair1"
  | "pub0"
  | "sub0"
  | "req0"
  | "rep0"
  | "push0"
  | "pull0"
  | "surveyor0"
  | "respondent0"
  | "bus0";

export interface Row {
  /** The label in the table and in test names, e.g. `req->rep`. */
  id: string;
  /** spwire's socket. */
  ours: Proto;
  /** The peer's socket. */
  theirs: Proto;
}

export interface Column {
  peer: PeerName;
  scheme: Scheme;
  role: Role;
  /**
   * "browser": spwire's side is the browser build (@spwire/core/browser, what
   * dist/spwire.js holds), which dials ws only; otherwise @spwire/node.
   */
  build?: "browser";
}

export const ROWS: readonly Row[] = [
  { id: "pair0-pair0", ours: "pair0", theirs: "pair0" },
  { id: "pair1-pair1", ours: "pair1", theirs: "pair1" },
  { id: "pub->sub", ours: "pub0", theirs: "sub0" },
  { id: "sub<-pub", ours: "sub0", theirs: "pub0" },
  { id: "req->rep", ours: "req0", theirs: "rep0" },
  { id: "rep<-req", ours: "rep0", theirs: "req0" },
  { id: "push->pull", ours: "push0", theirs: "pull0" },
  { id: "pull<-push", ours: "pull0", theirs: "push0" },
  { id: "surveyor->respondent", ours: "surveyor0", theirs: "respondent0" },
  { id: "respondent<-surveyor", ours: "respondent0", theirs: "surveyor0" },
  { id: "bus-bus", ours: "bus0", theirs: "bus0" },
];

/**
 * What each peer program has. nanomsg 1.1.5 has no TLS at all (no wss://, no
 * tls+tcp://), so those columns do not exist for nanocat; pair1 is nng's
 * alone, so those cells are "n/a".
 */
export const PEERS: Readonly<
  Record<PeerName, { schemes: readonly Scheme[]; lacks: Partial<Record<Proto, string>>; noColumns?: string }>
> = {
  nngcat: { schemes: ["ws", "wss", "tcp", "tls+tcp", "ipc"], lacks: {} },
  nanocat: {
    schemes: ["tcp", "ipc", "ws"],
    lacks: { pair1: "nanomsg 1.1.5 has no pair1 protocol (nanocat has only --pair, which is pair0)" },
    noColumns:
      'nanocat has no wss or tls+tcp columns: nanomsg 1.1.5 has no TLS transport ("Can\'t bind: Protocol not supported")',
  },
};

const ROLES: readonly Role[] = ["dialer", "listener"];

export const COLUMNS: readonly Column[] = [
  ...(Object.keys(PEERS) as PeerName[]).flatMap((peer) =>
    PEERS[peer].schemes.flatMap((scheme) => ROLES.map((role): Column => ({ peer, scheme, role }))),
  ),
  // The browser build dials ws:// only (a page cannot listen).
  ...(Object.keys(PEERS) as PeerName[]).map((peer): Column => ({ peer, scheme: "ws", role: "dialer", build: "browser" })),
];

/** Why the peer cannot run this cell, or undefined when it can. */
export function peerLacks(row: Row, col: Column): string | undefined {
  const lacks = PEERS[col.peer].lacks;
  return lacks[row.ours] ?? lacks[row.theirs];
}

export type CellResult =
  | { kind: "pass" }
  | { kind: "fail"; reason: string }
  /** The peer program lacks the protocol (or transport). */
  | { kind: "n/a"; reason: string }
  /** spwire does not have the transport yet. */
  | { kind: "pending"; reason: string };

/** One key per cell, stable across runs: also the cell's test name. */
export function cellKey(row: Row, col: Column): string {
  return `${row.id} | ${col.peer} ${col.scheme} | ${spwireSide(col)} ${col.role}`;
}

/** Which spwire a column runs: "spwire" (@spwire/node) or "browser build". */
function spwireSide(col: Column): string {
  return col.build === "browser" ? "browser build" : "spwire";
}

export interface MatrixInfo {
  /** e.g. "nngcat 1.5.2" and "nanocat (nanomsg 1.1.5)": printed above the table. */
  peers: string[];
  /** How the table was made, printed under it. */
  command: string;
}

function columnHeader(c: Column): string {
  return `${c.peer}<br>${c.scheme}<br>${spwireSide(c)} ${c.role === "dialer" ? "dials" : "listens"}`;
}

/** Markdown-safe single-line text for a table note. */
function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").replace(/\|/g, "\\|").trim();
}

/**
 * The matrix as Markdown: a legend, one table (rows = protocol pair,
 * columns = peer × transport × spwire's role), a count of each result, and
 * a numbered note for every ✗ and every peer limitation. A cell without a
 * result throws: a table with holes would read as a claim nobody tested.
 */
export function renderMatrix(results: ReadonlyMap<string, CellResult>, info: MatrixInfo): string {
  const counts = { pass: 0, fail: 0, "n/a": 0, pending: 0 };
  const notes: string[] = [];
  const noteIndex = new Map<string, number>();
  const noteFor = (text: string): number => {
    let n = noteIndex.get(text);
    if (n === undefined) {
      notes.push(text);
      n = notes.length;
      noteIndex.set(text, n);
    }
    return n;
  };

  const lines: string[] = [];
  lines.push(`| spwire -> peer | ${COLUMNS.map(columnHeader).join(" | ")} |`);
  lines.push(`|---|${COLUMNS.map(() => ":-:").join("|")}|`);
  for (const row of ROWS) {
    const cells = COLUMNS.map((col) => {
      const key = cellKey(row, col);
      const r = results.get(key);
      if (r === undefined) throw new Error(`no result for cell "${key}"`);
      counts[r.kind]++;
      switch (r.kind) {
        case "pass":
          return "✓";
        case "fail":
          return `✗ [${noteFor(`${row.id}, ${col.peer} ${col.scheme}, ${spwireSide(col)} ${col.role}: ${oneLine(r.reason)}`)}]`;
        case "n/a":
          return `n/a (peer lacks it) [${noteFor(oneLine(r.reason))}]`;
        case "pending":
          return `pending [${noteFor(oneLine(r.reason))}]`;
      }
    });
    lines.push(`| \`${row.id}\` | ${cells.join(" | ")} |`);
  }

  const total = counts.pass + counts.fail + counts["n/a"] + counts.pending;
  const out: string[] = [];
  out.push(
    `Interop matrix against ${info.peers.join(" and ")} on 127.0.0.1, spwire's cooked sockets on one side.`,
    "A row is a protocol pair, spwire's socket first (`rep<-req`: spwire Rep, peer req). Each cell",
    "checks the bodies that arrive on both sides byte for byte, and the header where the protocol",
    "exposes it (REQ/SURVEYOR id with the top bit set, echoed unchanged). The \"browser build\" columns",
    "run the browser build's sockets (`dist/spwire.js`, `@spwire/core/browser`) over the `ws` package's WebSocket.",
    "",
    ...lines,
    "",
    `${total} cells: ${counts.pass} ✓, ${counts.fail} ✗, ${counts["n/a"]} n/a (peer lacks it), ${counts.pending} pending.`,
    ...Object.values(PEERS).flatMap((p) => (p.noColumns !== undefined ? [p.noColumns + "."] : [])),
  );
  if (notes.length > 0) {
    out.push("");
    notes.forEach((n, i) => out.push(`${i + 1}. ${n}`));
  }
  out.push("", `Generated by \`${info.command}\`; do not edit by hand.`);
  return out.join("\n") + "\n";
}

export const BEGIN = "<!-- interop-matrix:begin -->";
export const END = "<!-- interop-matrix:end -->";

/**
 * `readme` with `table` between the matrix markers. When the markers are
 * missing they are added at the end of the "What works today" section
 * (before the next `## ` heading), or at the end of the file if there is no
 * such section. Nothing outside the markers changes.
 */
export function spliceMatrix(readme: string, table: string): string {
  const block = `${BEGIN}\n${table.endsWith("\n") ? table : table + "\n"}${END}`;
  const b = readme.indexOf(BEGIN);
  const e = readme.indexOf(END);
  if (b !== -1 || e !== -1) {
    if (b === -1 || e === -1 || e < b) throw new Error(`README has a broken interop matrix marker pair (${BEGIN} ... ${END})`);
    return readme.slice(0, b) + block + readme.slice(e + END.length);
  }
  const section = /^## What works today[^\n]*\n/m.exec(readme);
  if (section === null) return `${readme.replace(/\n*$/, "")}\n\n${block}\n`;
  const from = section.index + section[0].length;
  const next = /^## /m.exec(readme.slice(from));
  const at = next === null ? readme.length : from + next.index;
  const before = readme.slice(0, at).replace(/\n*$/, "");
  const after = readme.slice(at);
  return `${before}\n\n${block}\n${after === "" ? "" : "\n"}${after}`;
}
