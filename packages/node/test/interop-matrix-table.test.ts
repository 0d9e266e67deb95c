/**
 * The interop matrix's shape and its Markdown (interop-matrix-table.ts),
 * without running any peer: which cells exist, which are n/a, how results
 * print, and how the table goes into README.md between its markers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BEGIN,
  COLUMNS,
  END,
  ROWS,
  cellKey,
  peerLacks,
  renderMatrix,
  spliceMatrix,
  type CellResult,
} from "./interop-matrix-table.js";

const info = { peers: ["nngcat 1.5.2", "nanocat (nanomsg 1.1.5)"], command: "the test" };

/** Every cell passes, except the ones `set` names. */
function results(set: Record<string, CellResult> = {}): Map<string, CellResult> {
  const m = new Map<string, CellResult>();
  for (const r of ROWS) for (const c of COLUMNS) m.set(cellKey(r, c), set[cellKey(r, c)] ?? { kind: "pass" });
  return m;
}

const tableRows = (md: string): string[] => md.split("\n").filter((l) => l.startsWith("| `"));

test("the matrix has the 11 protocol pairs of issue #3, spwire's socket first", () => {
  assert.deepEqual(
    ROWS.map((r) => r.id),
    [
      "pair0-pair0",
      "pair1-pair1",
      "pub->sub",
      "sub<-pub",
      "req->rep",
      "rep<-req",
      "push->pull",
      "pull<-push",
      "surveyor->respondent",
      "respondent<-surveyor",
      "bus-bus",
    ],
  );
  assert.deepEqual(
    ROWS.find((r) => r.id === "rep<-req"),
    { id: "rep<-req", ours: "rep0", theirs: "req0" },
  );
});

test("columns are nngcat's five transports and nanocat's three, each with spwire dialing and listening, then the browser build dialing each peer's ws", () => {
  assert.deepEqual(
    COLUMNS.map((c) => `${c.peer} ${c.scheme} ${c.role}${c.build === undefined ? "" : ` (${c.build} build)`}`),
    [
      "nngcat ws dialer",
      "nngcat ws listener",
      "nngcat wss dialer",
      "nngcat wss listener",
      "nngcat tcp dialer",
      "nngcat tcp listener",
      "nngcat tls+tcp dialer",
      "nngcat tls+tcp listener",
      "nngcat ipc dialer",
      "nngcat ipc listener",
      "nanocat tcp dialer",
      "nanocat tcp listener",
      "nanocat ipc dialer",
      "nanocat ipc listener",
      "nanocat ws dialer",
      "nanocat ws listener",
      "nngcat ws dialer (browser build)",
      "nanocat ws dialer (browser build)",
    ],
  );
});

test("only nanocat's pair1 cells are ones the peer lacks", () => {
  const lacking = ROWS.flatMap((r) => COLUMNS.filter((c) => peerLacks(r, c) !== undefined).map((c) => cellKey(r, c)));
  // Six @spwire/node columns and the browser build's one.
  assert.equal(lacking.length, 7);
  assert.ok(lacking.every((k) => k.startsWith("pair1-pair1 | nanocat ")), lacking.join("\n"));
});

test("every result prints as its mark, with a numbered note shared by equal reasons", () => {
  const pair1 = ROWS.find((r) => r.id === "pair1-pair1")!;
  const req = ROWS.find((r) => r.id === "req->rep")!;
  const [wsDial, wsListen] = COLUMNS;
  const set: Record<string, CellResult> = {
    [cellKey(req, wsDial!)]: { kind: "fail", reason: "reply body | differs\nsecond line" },
    [cellKey(req, wsListen!)]: { kind: "pending", reason: "no ws yet" },
    [cellKey(pair1, wsDial!)]: { kind: "pending", reason: "no ws yet" },
  };
  for (const c of COLUMNS) if (peerLacks(pair1, c)) set[cellKey(pair1, c)] = { kind: "n/a", reason: "nanomsg has no pair1" };
  const md = renderMatrix(results(set), info);
  const rows = tableRows(md);
  assert.equal(rows.length, ROWS.length);
  // Notes are numbered in reading order (row by row), and equal reasons share one.
  assert.equal(rows[1]!.split(" | ")[1], "pending [1]");
  assert.equal(rows[1]!.split(" | ")[2], "✓");
  assert.match(rows[1]!, /\| n\/a \(peer lacks it\) \[2\] \|$/);
  assert.equal(rows[4]!.split(" | ")[1], "✗ [3]");
  assert.equal(rows[4]!.split(" | ")[2], "pending [1]");
  assert.match(md, /^1\. no ws yet$/m);
  assert.match(md, /^2\. nanomsg has no pair1$/m);
  assert.match(md, /^3\. req->rep, nngcat ws, spwire dialer: reply body \\\| differs second line$/m);
  // 11 rows x 18 columns (16 @spwire/node, 2 browser build).
  assert.match(md, /^198 cells: 188 ✓, 1 ✗, 7 n\/a \(peer lacks it\), 2 pending\.$/m);
  assert.match(md, /^nanocat has no wss or tls\+tcp columns: nanomsg 1\.1\.5 has no TLS transport/m);
  // One line per protocol pair, each with a cell per column.
  for (const r of rows) assert.equal(r.split(" | ").length, COLUMNS.length + 1);
});

test("a cell without a result is refused, so the table never shows an untested cell", () => {
  const m = results();
  m.delete(cellKey(ROWS[3]!, COLUMNS[5]!));
  assert.throws(() => renderMatrix(m, info), /no result for cell "sub<-pub \| nngcat tcp \| spwire listener"/);
});

const README = "# x\n\nintro\n\n## What works today\n\nProtocols.\n\n| a |\n|---|\n\n## Options\n\nmore\n";

test("without markers, the table goes at the end of the What works today section", () => {
  const out = spliceMatrix(README, "TABLE\n");
  assert.equal(
    out,
    "# x\n\nintro\n\n## What works today\n\nProtocols.\n\n| a |\n|---|\n\n" +
      `${BEGIN}\nTABLE\n${END}\n\n## Options\n\nmore\n`,
  );
});

test("with markers, only the text between them changes, and a second run changes nothing", () => {
  const once = spliceMatrix(README, "OLD\n");
  const twice = spliceMatrix(once, "NEW\n");
  assert.equal(twice, once.replace("OLD", "NEW"));
  assert.equal(spliceMatrix(twice, "NEW\n"), twice);
});

test("without the section, the table is appended; a lone marker is an error", () => {
  assert.equal(spliceMatrix("# x\n", "T\n"), `# x\n\n${BEGIN}\nT\n${END}\n`);
  assert.throws(() => spliceMatrix(`# x\n${BEGIN}\n`, "T\n"), /broken interop matrix marker/);
  assert.throws(() => spliceMatrix(`${END}\n${BEGIN}\n`, "T\n"), /broken interop matrix marker/);
});
