#!/usr/bin/env node
/**
 * The test runner behind `npm test`: every file named `*.test.ts` under
 * `packages/<name>/test/` and `e2e/`, run by node:test through tsx with the
 * `source` export condition (so `@spwire/...` imports resolve to the
 * TypeScript sources).
 *
 *   node scripts/test.mjs                      all test files
 *   node scripts/test.mjs browser sub0         files whose path contains "browser" or "sub0"
 *   node scripts/test.mjs e2e/browser-core.test.ts
 *   node scripts/test.mjs --test-name-pattern="drops"   node options are passed on
 *
 * Node prints its own summary ("# pass N" / "# fail N" when stdout is not a
 * TTY; CI reads those lines). The exit code is node's.
 *
 * Bounded:
 * - `--test-timeout=SPWIRE_TEST_TIMEOUT` (ms, default 180000). Node 20's
 *   runner applies it to each test file as a whole (the file's process is
 *   cancelled: "test timed out after ...ms" on the file's line), and inside
 *   the file to each test. So it is a per-file budget: keep a file well under
 *   it, and give a test that may legitimately wait long its own `{ timeout }`.
 * - no `--test-force-exit`, on purpose: with Node 20 it ends a file's process
 *   while its last results are still in the pipe to the runner, which then
 *   silently reports fewer tests than the file has (seen: 45 of 61, more often
 *   on a loaded machine). A file that leaves a handle open (a socket, a
 *   timer, a child process) therefore hangs until the per-file timeout and
 *   fails there, which is the honest outcome: tests must close what they open.
 * - a watchdog stops the whole run after SPWIRE_TEST_WATCHDOG ms (default
 *   1800000 = 30 min) with exit code 124.
 *
 * Node 20 does not expand globs given to `--test`, so files are listed here.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const testTimeout = positiveInt("SPWIRE_TEST_TIMEOUT", 180_000);
const watchdogMs = positiveInt("SPWIRE_TEST_WATCHDOG", 30 * 60_000);

/** Node options that take their value as the next argument (`--opt value`); `--opt=value` needs no entry here. */
const TAKES_VALUE = new Set([
  "--test-name-pattern",
  "--test-reporter",
  "--test-reporter-destination",
  "--test-concurrency",
  "--test-timeout",
  "--test-shard",
]);

const nodeArgs = [];
const filters = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a.startsWith("-")) {
    nodeArgs.push(a);
    if (TAKES_VALUE.has(a) && i + 1 < argv.length) nodeArgs.push(argv[++i]);
  } else {
    filters.push(a.split(sep).join("/").replace(/^\.\//, ""));
  }
}

const all = findTestFiles();
const files = filters.length === 0 ? all : all.filter((f) => filters.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error(
    filters.length === 0
      ? "test: no test files found (looked for packages/*/test/**/*.test.ts and e2e/**/*.test.ts)"
      : `test: no test file matches ${filters.map((f) => JSON.stringify(f)).join(" or ")}; test files are:\n  ${all.join("\n  ")}`,
  );
  process.exit(1);
}

const args = [
  "--conditions=source",
  "--import",
  "tsx",
  "--test",
  "--test-concurrency=2",
  `--test-timeout=${testTimeout}`,
  ...nodeArgs,
  ...files,
];
console.error(`test: ${files.length} file${files.length === 1 ? "" : "s"}: node ${args.slice(0, -files.length).join(" ")} <files>`);

// Own process group, so the watchdog and Ctrl-C reach node's per-file child processes (and the browsers they started) too.
const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"], detached: true });

let stoppedBy;
const stop = (why, signal) => {
  stoppedBy ??= why;
  killGroup(signal);
  // A group that ignores SIGTERM gets SIGKILL after a grace period.
  setTimeout(() => killGroup("SIGKILL"), 5_000).unref();
};
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => stop(sig, sig));
const watchdog = setTimeout(() => {
  console.error(`test: the run took longer than ${watchdogMs} ms (SPWIRE_TEST_WATCHDOG); stopping it`);
  stop("watchdog", "SIGTERM");
}, watchdogMs);

child.once("error", (err) => {
  console.error(`test: could not start node: ${err.message}`);
  process.exit(1);
});
child.once("exit", (code, signal) => {
  clearTimeout(watchdog);
  // Whatever a test started and left running (a peer, a browser) is still in the group: end it.
  const left = leftRunning();
  if (left.length > 0) {
    if (!stoppedBy) console.error(`test: stopping what the tests left running (a test should close what it starts):\n  ${left.join("\n  ")}`);
    killGroup("SIGKILL");
  }
  if (stoppedBy === "watchdog") process.exit(124);
  if (stoppedBy) process.exit(130);
  if (signal) {
    console.error(`test: node ended by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});

/**
 * Live processes still in the run's group, as "pid command". Zombies do not
 * count: a test file that exits right after killing its peers leaves them for
 * init to reap. Without /proc (not Linux) any member counts.
 */
function leftRunning() {
  if (!existsSync("/proc/self/stat")) {
    try {
      process.kill(-child.pid, 0);
      return [`process group ${child.pid}`];
    } catch (err) {
      if (err.code === "ESRCH") return [];
      throw err;
    }
  }
  const out = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let stat, cmd;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch (err) {
      // The process ended while we looked: not left running.
      if (err.code === "ENOENT" || err.code === "ESRCH") continue;
      throw err;
    }
    // Fields after "(comm)": state, ppid, pgrp, ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === child.pid && state !== "Z") out.push(`${pid} ${cmd}`);
  }
  return out;
}

function killGroup(signal) {
  try {
    process.kill(-child.pid, signal);
  } catch (err) {
    // ESRCH: the group is already gone, which is what we wanted.
    if (err.code !== "ESRCH") throw err;
  }
}

/** Test files, repo-relative with "/" separators, sorted. */
function findTestFiles() {
  const out = [];
  const packages = join(root, "packages");
  if (existsSync(packages)) {
    for (const pkg of readdirSync(packages, { withFileTypes: true })) {
      if (pkg.isDirectory()) walk(join(packages, pkg.name, "test"), out);
    }
  }
  walk(join(root, "e2e"), out);
  return out.map((f) => relative(root, f).split(sep).join("/")).sort();
}

function walk(dir, out) {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && e.name.endsWith(".test.ts")) out.push(p);
  }
}

function positiveInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`test: ${name} must be a positive whole number of milliseconds, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}
