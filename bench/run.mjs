#!/usr/bin/env node
/**
 * spwire's benchmarks, each case run interleaved with its baselines
 * (A B A B ... in one run) so that a noisy machine hits both alike; see
 * bench/README.md for what each case measures.
 *
 *   npm run bench                      every case, 3 reps (a few minutes)
 *   npm run bench -- --quick           64 B cases, relay and 100-client fan-out at a fifth of the
 *                                      counts (under a minute on an idle machine)
 *   npm run bench -- --pin [CPU]       every process on one CPU (default 1) via taskset
 *   npm run bench -- --only ws-64,fanout   a case id, or the start of several (fanout: both fan-out cases)
 *   npm run bench -- --reps 5          reps per variant (at least 1; 3 unless told)
 *   npm run bench -- --write           also rewrite README.md's performance table
 *   npm run bench -- --readme          only rewrite README.md's table (and latest.md) from results/latest.json
 *   npm run bench -- --profile         no figures: run the spwire side of each case once
 *                                      under --cpu-prof and summarise self time per function
 *   node bench/run.mjs --smoke --out DIR   1 rep, tiny counts, a few cases (the test suite's check)
 *
 * Results: bench/results/<date-time>.{json,md}, and for a full run of every
 * case also bench/results/latest.{json,md}; a --quick or --only run is
 * <date-time>-quick[-some].{json,md} (with --out DIR: DIR/result.{json,md} only). The spwire side runs from the
 * built packages (packages/*\/dist), rebuilt first when a source is newer.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, relative } from "node:path";
import { benchDir, newestMtime, peerNodeOptions } from "./lib/proc.mjs";
import { meets, pairwise, summary } from "./lib/stats.mjs";
import { renderMarkdown, updateReadme } from "./lib/report.mjs";
import { summariseProfiles } from "./lib/profile.mjs";
import { heapDiff } from "./lib/heap.mjs";
import { throughputCases } from "./cases/throughput.mjs";
import { reqrepCases } from "./cases/reqrep.mjs";
import { fanoutCases } from "./cases/fanout.mjs";
import { memoryCases } from "./cases/memory.mjs";
import { browserCases } from "./cases/browser.mjs";
import { sizeRows } from "./cases/size.mjs";

const root = join(benchDir, "..");
const resultsDir = join(benchDir, "results");
const tmpDir = join(resultsDir, "tmp");

// ---------------------------------------------------------------- arguments

const USAGE = "usage: node bench/run.mjs [--quick | --smoke] [--pin [CPU]] [--only ids] [--reps N] [--write | --readme] [--profile] [--out DIR]";
const opts = { mode: "full", pin: undefined, only: [], reps: undefined, write: false, readme: false, profile: false, out: undefined };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) die(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "--quick") opts.mode = "quick";
    else if (a === "--smoke") opts.mode = "smoke";
    else if (a === "--pin") opts.pin = /^\d+$/.test(argv[i + 1] ?? "") ? argv[++i] : "1";
    else if (a === "--only") opts.only.push(...value().split(",").filter(Boolean));
    else if (a === "--reps") opts.reps = Number(value());
    else if (a === "--write") opts.write = true;
    else if (a === "--readme") opts.readme = true;
    else if (a === "--profile") opts.profile = true;
    else if (a === "--out") opts.out = value();
    else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else die(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
  }
  if (opts.reps !== undefined && !(Number.isInteger(opts.reps) && opts.reps >= 1)) die("--reps wants a whole number >= 1");
  if (opts.write && (opts.mode !== "full" || opts.only.length > 0)) die("--write records a full run of every case: leave out --quick, --smoke and --only");
}

/** Only a full run of every case becomes results/latest.* (and may rewrite the README). */
const recordRun = opts.mode === "full" && opts.only.length === 0;

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

if (opts.readme) {
  const latest = join(resultsDir, "latest.json");
  if (!existsSync(latest)) die("no bench/results/latest.json yet: run the bench first");
  const doc = JSON.parse(readFileSync(latest, "utf8"));
  updateReadme(join(root, "README.md"), doc);
  writeFileSync(join(resultsDir, "latest.md"), renderMarkdown(doc));
  console.log("README.md's performance table and bench/results/latest.md rewritten from bench/results/latest.json");
  process.exit(0);
}

// ---------------------------------------------------------------- pinning

if (opts.pin !== undefined && process.env.SPWIRE_BENCH_PINNED === undefined) {
  // Children inherit the affinity: re-run this very command under taskset.
  const r = spawnSync("taskset", ["-c", opts.pin, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, SPWIRE_BENCH_PINNED: opts.pin },
  });
  if (r.error) die(`taskset failed: ${r.error.message} (is util-linux installed?)`);
  process.exit(r.status ?? 1);
}

// ---------------------------------------------------------------- preparation

/** Rebuild packages/*\/dist when any source is newer than the last build (tsc -b, as `npm run build` does). */
function ensureBuilt() {
  const stale = ["core", "node", "gateway"].filter((p) => {
    const info = join(root, "packages", p, "tsconfig.tsbuildinfo");
    const index = join(root, "packages", p, "dist", "index.js");
    return !existsSync(index) || !existsSync(info) || newestMtime(join(root, "packages", p, "src")) > statSync(info).mtimeMs;
  });
  if (stale.length === 0) return;
  console.log(`bench: building packages (${stale.join(", ")} older than their sources): tsc -b`);
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-b", "packages/core", "packages/node", "packages/gateway"], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) die(`the build failed, so there is nothing honest to measure:\n${r.stdout}${r.stderr}`);
}

/**
 * nngbench, compiled from bench/nng/nngbench.c against Debian's libnng-dev
 * (installed here when missing and we are root). Undefined, with the reason,
 * when it cannot be had: the nng variants are then skipped.
 */
function ensureNng() {
  const header = "/usr/include/nng/nng.h";
  // Not from the test suite's --smoke: a test installs nothing; it skips nng instead.
  if (!existsSync(header) && process.getuid?.() === 0 && opts.mode !== "smoke") {
    console.log("bench: installing libnng-dev (apt-get) for the nng baselines");
    const r = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "libnng-dev"], { stdio: "inherit" });
    if (r.status !== 0) return { reason: "apt-get install libnng-dev failed" };
  }
  if (!existsSync(header)) return { reason: "libnng-dev is not installed (run as root, or: apt-get install libnng-dev)" };
  const src = join(benchDir, "nng", "nngbench.c");
  const bin = join(tmpDir, "nngbench");
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    const r = spawnSync("cc", ["-O2", "-Wall", "-o", bin, src, "-lnng"], { encoding: "utf8" });
    if (r.status !== 0) return { reason: `cc -O2 nngbench.c -lnng failed: ${(r.error?.message ?? r.stderr).trim()}` };
  }
  const v = spawnSync(bin, ["version"], { encoding: "utf8" });
  return { path: bin, version: v.stdout.trim() };
}

function machine() {
  const c = cpus();
  const pkg = (name) => {
    try {
      return JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;
    } catch {
      return undefined;
    }
  };
  // The code measured: the commit, and whether packages/ had uncommitted changes.
  const git = (...a) => spawnSync("git", a, { cwd: root, encoding: "utf8" }).stdout?.trim() ?? "";
  const head = git("rev-parse", "--short", "HEAD");
  const dirty = git("status", "--porcelain", "--", "packages") !== "";
  return {
    commit: head === "" ? null : `${head}${dirty ? "+uncommitted" : ""}`,
    cpu: c[0]?.model ?? "unknown",
    cores: c.length,
    pinned: process.env.SPWIRE_BENCH_PINNED ?? null,
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
    versions: {
      node: process.version,
      ws: pkg("ws"),
      bufferutil: pkg("bufferutil"),
      spwire: JSON.parse(readFileSync(join(root, "packages", "core", "package.json"), "utf8")).version,
      "playwright-core": pkg("playwright-core"),
    },
  };
}

// ---------------------------------------------------------------- the run

mkdirSync(tmpDir, { recursive: true });
ensureBuilt();
const nng = ensureNng();
if (nng.path === undefined) console.log(`bench: nng baselines skipped: ${nng.reason}`);

const SCALE = { full: 1, quick: 0.2, smoke: 0.02 };
const ctx = {
  mode: opts.mode,
  nng: nng.path,
  tmp: tmpDir,
  timeout: opts.mode === "smoke" ? 30_000 : 120_000,
  /** A message count scaled for the mode (never below 200). */
  count: (n) => Math.max(200, Math.round(n * SCALE[opts.mode])),
  extra: {},
};

let cases = [...throughputCases(ctx), ...reqrepCases(ctx), ...fanoutCases(ctx), ...memoryCases(ctx), ...browserCases(ctx)];
if (opts.mode === "smoke") cases = cases.filter((c) => ["ws-64", "tcp-64", "reqrep-64"].includes(c.id));
// A name is a case id, or else the start of some (--only fanout: every fan-out case).
const picked = (c, o) => c.id === o || (!cases.some((x) => x.id === o) && c.id.startsWith(o));
if (opts.only.length > 0) cases = cases.filter((c) => opts.only.some((o) => picked(c, o)));
if (cases.length === 0) die(`no case matches --only ${opts.only.join(",")}`);
const reps = opts.reps ?? (opts.mode === "smoke" ? 1 : 3);

if (opts.profile) {
  await profileRun(cases);
  process.exit(0);
}

const started = new Date();
const info = machine();
info.versions.nng = nng.version ?? null;
console.log(
  `bench: ${opts.mode}, ${reps} rep(s), ${cases.length} case(s); ${info.cpu} x${info.cores}` +
    `${info.pinned ? `, pinned to CPU ${info.pinned}` : ", not pinned (--pin for stable ratios)"}; load ${info.loadavg.join(" ")}`,
);

let failures = 0;
const results = [];
for (const c of cases) {
  const t0 = Date.now();
  const variants = c.variants.map((v) => ({ id: v.id, label: v.label, samples: [], errors: [], skipped: undefined }));
  for (const [i, v] of c.variants.entries()) {
    if (v.needs === "nng" && ctx.nng === undefined) variants[i].skipped = nng.reason;
  }
  try {
    await c.setup?.();
  } catch (err) {
    // A case that cannot start here (no Chromium ...) is skipped, with the reason in the results.
    console.error(`bench: ${c.id} skipped: ${err?.message ?? err}`);
    for (const v of variants) v.skipped ??= `setup failed: ${err?.message ?? err}`;
  }
  try {
    for (let r = 0; r < reps; r++) {
      for (const [i, v] of c.variants.entries()) {
        if (variants[i].skipped !== undefined) continue;
        try {
          variants[i].samples.push(await v.run(r));
        } catch (err) {
          failures++;
          variants[i].samples.push(null);
          variants[i].errors.push(String(err?.stack ?? err));
          console.error(`bench: ${c.id} / ${v.id} rep ${r + 1} failed: ${err?.stack ?? err}`);
        }
      }
    }
  } finally {
    await Promise.resolve(c.teardown?.()).catch((err) => console.error(`bench: ${c.id} teardown: ${err?.stack ?? err}`));
  }
  const res = summarise(c, variants);
  res.seconds = Math.round((Date.now() - t0) / 100) / 10;
  results.push(res);
  printCase(res);
}

const doc = {
  schema: 1,
  date: started.toISOString(),
  mode: opts.mode,
  reps,
  args: process.argv.slice(2),
  machine: { ...info, loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100), ...ctx.extra },
  seconds: Math.round((Date.now() - started.getTime()) / 100) / 10,
  cases: results,
  size: sizeRows(join(benchDir, "size.md")),
};

const md = renderMarkdown(doc);
if (opts.out !== undefined) {
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(join(opts.out, "result.json"), `${JSON.stringify(doc, null, 2)}\n`);
  writeFileSync(join(opts.out, "result.md"), md);
  console.log(`bench: wrote ${join(opts.out, "result.json")} and result.md`);
} else {
  const stamp = started.toISOString().replace(/[:]/g, "").replace(/\.\d+Z$/, "Z");
  const suffix = recordRun ? "" : `-${opts.mode}${opts.only.length > 0 ? "-some" : ""}`;
  for (const name of recordRun ? [stamp, "latest"] : [`${stamp}${suffix}`]) {
    writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
    writeFileSync(join(resultsDir, `${name}.md`), md);
  }
  const also = recordRun ? " and latest.{json,md}" : " (latest.* is kept for full runs of every case)";
  console.log(`bench: wrote bench/results/${stamp}${suffix}.{json,md}${also} (${doc.seconds} s)`);
  if (opts.write) {
    updateReadme(join(root, "README.md"), doc);
    console.log("bench: README.md performance table rewritten");
  }
}
process.exit(failures > 0 ? 1 : 0);

// ---------------------------------------------------------------- helpers

function summarise(c, variants) {
  const out = { id: c.id, title: c.title, metrics: c.metrics, note: c.note, variants: {}, comparisons: [] };
  for (const v of variants) {
    const stats = {};
    for (const m of Object.keys(c.metrics)) stats[m] = summary(v.samples.map((s) => (s === null ? NaN : s[m])));
    out.variants[v.id] = { label: v.label, samples: v.samples, stats, errors: v.errors, skipped: v.skipped };
  }
  for (const cmp of c.compare) {
    const a = out.variants[cmp.a];
    const b = out.variants[cmp.b];
    const kind = cmp.kind ?? "ratio";
    const base = { a: cmp.a, b: cmp.b, metric: cmp.metric, kind, target: cmp.target, label: cmp.label };
    if (a.skipped !== undefined || b.skipped !== undefined) {
      out.comparisons.push({ ...base, skipped: a.skipped ?? b.skipped });
      continue;
    }
    const pick = (v) => v.samples.map((s) => (s === null ? NaN : s[cmp.metric]));
    const p = pairwise(pick(a), pick(b), kind);
    out.comparisons.push({ ...base, ...p, met: meets(p.median, cmp.target) });
  }
  return out;
}

function fmt(x, unit) {
  if (!Number.isFinite(x)) return "n/a";
  if (unit === "us") return `${x.toFixed(1)} us`;
  if (unit === "bytes") return `${Math.round(x).toLocaleString("en-US")} B`;
  return `${Math.round(x).toLocaleString("en-US")} ${unit}`;
}

function printCase(r) {
  console.log(`\n${r.title}  [${r.id}, ${r.seconds} s]`);
  for (const [id, v] of Object.entries(r.variants)) {
    if (v.skipped) {
      console.log(`  ${id.padEnd(8)} skipped: ${v.skipped}`);
      continue;
    }
    const parts = Object.entries(v.stats).map(([m, s]) => `${m} ${fmt(s.median, r.metrics[m].unit)} (${fmt(s.min, r.metrics[m].unit)} .. ${fmt(s.max, r.metrics[m].unit)})`);
    console.log(`  ${id.padEnd(8)} ${parts.join("; ")}`);
  }
  for (const c of r.comparisons) {
    if (c.skipped) continue;
    const v = c.kind === "diff" ? `${c.median >= 0 ? "+" : ""}${c.median.toFixed(1)} us` : `${c.median.toFixed(2)}x`;
    const t = c.target ? ` target ${c.target.op} ${c.target.value}${c.kind === "diff" ? " us" : "x"} ${c.met ? "met" : "MISSED"}` : "";
    console.log(`  ${c.a} vs ${c.b} (${c.metric}): ${v}${t}`);
  }
}

/**
 * --profile: each case's spwire variant once, its spwire-side processes under
 * --cpu-prof, then a summary of self time within the measured stretch. The
 * memory case also runs its baseline, with heap snapshots before and after
 * the clients connect, and compares them by constructor.
 */
async function profileRun(list) {
  const dir = join(tmpDir, "profiles");
  rmSync(dir, { recursive: true, force: true });
  for (const c of list) {
    const heap = c.id.startsWith("memory");
    const caseDir = join(dir, c.id);
    mkdirSync(caseDir, { recursive: true });
    ctx.profileDir = caseDir;
    if (!heap) peerNodeOptions.spwire = ["--cpu-prof", `--cpu-prof-dir=${caseDir}`];
    await c.setup?.();
    let sample;
    let n = 0;
    try {
      for (const v of c.variants) {
        if (v.id !== "spwire" && !heap) continue;
        const s = await v.run(0);
        if (v.id === "spwire") sample = s;
        n = s.conns ?? 0;
      }
    } finally {
      await c.teardown?.();
    }
    peerNodeOptions.spwire = [];
    ctx.profileDir = undefined;
    // The memory case's CPU profile is connection set-up only: its heap comparison says more.
    let text = heap ? `### ${c.title}\n` : summariseProfiles(caseDir, c.title, sample?.window);
    if (heap) {
      for (const name of ["gateway", "ws-server"]) {
        text += heapDiff(join(caseDir, `${name}-before.heapsnapshot`), join(caseDir, `${name}-after.heapsnapshot`), n, `${name}, ${n} idle clients`);
      }
    }
    writeFileSync(join(caseDir, "summary.md"), text);
    console.log(text);
    console.log(`(profiles in ${relative(root, caseDir)})\n`);
  }
}
