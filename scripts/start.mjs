#!/usr/bin/env node
/**
 * `npm start`: the live dashboard over the sample feed, in one command.
 *
 * 1. Builds the examples' Vite app (examples/dashboard/vite.config.ts) into
 *    examples/dashboard/dist when that is missing or older than its sources:
 *    the pages, examples/rpc/page.ts and packages/core/src, which the pages
 *    bundle. `--no-build` skips this.
 * 2. Runs examples/start.ts (the sample feed, the sample rpc service and the
 *    gateway, on one port) with the `source` export condition through tsx,
 *    passing the arguments on: `npm start -- --help`.
 *
 * Signals. examples/start.ts runs in a process group of its own, so it hears
 * only what this script forwards: the first SIGINT/SIGTERM asks it to stop
 * cleanly (it exits 0), a second one kills it and exits 130 at once. One
 * Ctrl-C can reach this script twice within milliseconds, from the terminal
 * (to the whole foreground group) and forwarded by npm when npm's script
 * shell execs this script; a signal that close to the first counts as the
 * same one. If this script dies without forwarding anything, the child sees
 * its IPC channel close and stops on its own.
 *
 * Exit status under npm. This script exits 0 after a Ctrl-C, yet `npm start`
 * may report 130: npm runs it through `sh -c`, and a sh that got the
 * terminal's SIGINT while waiting (Debian's dash) ends itself with SIGINT once
 * its child has exited, whatever the child's code; npm then re-raises that
 * signal on itself. That is the shell's and npm's doing, not this script's:
 * `npm --script-shell=bash start` reports 0.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { constants } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const app = join(root, "examples", "dashboard");
const dist = join(app, "dist");
/** Signals closer than this to the first are the same Ctrl-C (see above). */
const SAME_SIGNAL_MS = 250;

const args = process.argv.slice(2);
const help = args.includes("--help") || args.includes("-h");
if (!help && !args.includes("--no-build")) {
  try {
    await buildIfStale();
  } catch (err) {
    console.error(`start: building the dashboard failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}

const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "examples/start.ts", ...args], {
  cwd: root,
  stdio: ["ignore", "inherit", "inherit", "ipc"],
  // Its own process group (not on Windows, where detached means a new console window).
  detached: process.platform !== "win32",
});
child.once("error", (err) => {
  console.error(`start: could not run examples/start.ts: ${err.message}`);
  process.exit(1);
});
child.once("exit", (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));

let firstSignalAt = 0;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    const now = Date.now();
    if (firstSignalAt === 0) {
      firstSignalAt = now;
      child.kill(sig === "SIGHUP" ? "SIGTERM" : sig);
      return;
    }
    if (now - firstSignalAt < SAME_SIGNAL_MS) return;
    console.error("start: stopping at once");
    child.kill("SIGKILL");
    process.exit(130);
  });
}

/** Build the dashboard unless dist/ is newer than every source file. */
async function buildIfStale() {
  const built = Math.min(mtime(join(dist, "index.html")), mtime(join(dist, "rpc.html")));
  const sources = [
    ...files(app, (p) => p !== dist),
    ...files(join(root, "examples", "rpc")),
    ...files(join(root, "packages", "core", "src")),
    join(root, "package-lock.json"),
  ];
  const newest = Math.max(...sources.map(mtime));
  if (built >= newest) return;
  console.log(`start: building the dashboard (${relative(root, dist)} is ${built === -Infinity ? "missing" : "older than its sources"})...`);
  const { build } = await import("vite");
  // Built beside, then swapped in: a gateway already serving dist/ never sees it half written.
  const cache = join(root, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  const tmp = join(cache, `spwire-dashboard-${process.pid}`);
  try {
    await build({ configFile: join(app, "vite.config.ts"), logLevel: "warn", build: { outDir: tmp, emptyOutDir: true } });
    rmSync(dist, { recursive: true, force: true });
    try {
      renameSync(tmp, dist);
    } catch (err) {
      // Another `npm start` built it at the same moment: theirs is as good as ours.
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Modification time in ms; -Infinity for a missing file. */
function mtime(p) {
  return statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? -Infinity;
}

/** Every file under `dir` (skipping node_modules and dot-directories) that `keep` accepts. */
function files(dir, keep = () => true) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.name === "node_modules" || e.name.startsWith(".") || !keep(p)) continue;
    if (e.isDirectory()) out.push(...files(p, keep));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
