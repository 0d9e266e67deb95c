/**
 * The bench harness, kept from rotting: `node bench/run.mjs --smoke` (one
 * rep, tiny counts, three cases, its own output directory) must run every
 * variant and write a well-formed result. No figure is asserted — timings
 * belong to the bench, not to tests — only that each one is there and is a
 * positive finite number, and that each comparison was made.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

interface Summary {
  median: number;
  min: number;
  max: number;
  values: number[];
}

interface Variant {
  label: string;
  samples: (Record<string, number> | null)[];
  stats: Record<string, Summary>;
  errors: string[];
  skipped?: string;
}

interface Comparison extends Partial<Summary> {
  a: string;
  b: string;
  metric: string;
  kind: "ratio" | "diff";
  skipped?: string;
  met?: boolean;
  target?: { op: string; value: number };
}

interface Result {
  schema: number;
  mode: string;
  reps: number;
  date: string;
  machine: { cpu: string; cores: number; versions: Record<string, string | null> };
  cases: { id: string; title: string; metrics: Record<string, { unit: string; better: string }>; variants: Record<string, Variant>; comparisons: Comparison[] }[];
  size: { rows: { page: string; gz: number }[] };
}

let dir = "";
let child: ChildProcess | undefined;

after(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

/** Run the harness in smoke mode; resolves with its exit code and output. */
function smoke(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ["bench/run.mjs", "--smoke", "--out", out], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    let output = "";
    c.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    c.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    c.once("error", reject);
    c.once("close", (code) => resolve({ code, output }));
  });
}

test("bench/run.mjs --smoke runs every variant of its cases and writes a well-formed result", { timeout: 55_000 }, async () => {
  dir = await mkdtemp(join(tmpdir(), "spwire-bench-smoke-"));
  const run = await smoke(dir);
  assert.equal(run.code, 0, `the bench failed:\n${run.output}`);

  const doc = JSON.parse(await readFile(join(dir, "result.json"), "utf8")) as Result;
  assert.equal(doc.schema, 1);
  assert.equal(doc.mode, "smoke");
  assert.equal(doc.reps, 1);
  assert.ok(!Number.isNaN(Date.parse(doc.date)), `date ${doc.date}`);
  assert.equal(typeof doc.machine.cpu, "string");
  assert.ok(doc.machine.cores >= 1);
  assert.equal(typeof doc.machine.versions.node, "string");
  assert.equal(typeof doc.machine.versions.ws, "string");
  assert.deepEqual(
    doc.cases.map((c) => c.id),
    ["ws-64", "tcp-64", "reqrep-64"],
  );

  for (const c of doc.cases) {
    assert.ok(Object.keys(c.variants).length >= 2, `${c.id} has a spwire variant and a baseline`);
    for (const [id, v] of Object.entries(c.variants)) {
      // Only the nng baselines may be missing, and only with a reason (no libnng-dev here).
      if (v.skipped !== undefined) {
        assert.equal(id, "nng", `${c.id}/${id} skipped: ${v.skipped}`);
        continue;
      }
      assert.deepEqual(v.errors, [], `${c.id}/${id} failed`);
      assert.equal(v.samples.length, 1, `${c.id}/${id}: one sample per rep`);
      for (const m of Object.keys(c.metrics)) {
        const x = v.samples[0]![m];
        assert.ok(typeof x === "number" && Number.isFinite(x) && x > 0, `${c.id}/${id}: ${m} is ${String(x)}`);
      }
    }
    assert.ok(c.comparisons.length >= 1, `${c.id} compares something`);
    for (const cmp of c.comparisons) {
      if (cmp.skipped !== undefined) continue;
      assert.ok(cmp.a in c.variants && cmp.b in c.variants, `${c.id}: ${cmp.a} vs ${cmp.b}`);
      assert.equal(cmp.values?.length, 1, `${c.id}: ${cmp.a}/${cmp.b} pairs rep with rep`);
      assert.ok(Number.isFinite(cmp.median), `${c.id}: ${cmp.a}/${cmp.b} ${cmp.metric} = ${String(cmp.median)}`);
      if (cmp.target !== undefined) assert.equal(typeof cmp.met, "boolean", `${c.id}: target checked`);
    }
  }
  // The bundle sizes are read from bench/size.md, not measured again.
  assert.ok(doc.size.rows.some((r) => r.page.startsWith("spwire") && r.gz > 0), "bundle sizes from bench/size.md");

  const md = await readFile(join(dir, "result.md"), "utf8");
  assert.match(md, /^# Bench results/);
  assert.match(md, /## Against the targets/);
  for (const c of doc.cases) assert.ok(md.includes(c.title), `result.md shows ${c.title}`);
});
