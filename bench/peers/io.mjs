/**
 * The peer side of bench/lib/proc.mjs: `node bench/peers/<file> <role> <json args>`.
 * A peer says things as JSON lines on stdout, takes commands as lines on
 * stdin, and finishes (closing what it opened) when stdin ends.
 */
import { createInterface } from "node:readline";

export const role = process.argv[2] ?? "";
export const args = JSON.parse(process.argv[3] ?? "{}");

/** One JSON line to the runner. */
export function say(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Monotonic time in seconds (CLOCK_MONOTONIC, as nngbench's: comparable across processes). */
export function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

/**
 * Run `onCommand(line)` for each stdin line; when stdin ends, `onEnd()` is
 * awaited and the process exits 0 (this also writes --cpu-prof profiles).
 */
export function commands(onCommand, onEnd = async () => {}) {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    Promise.resolve(onCommand(line.trim())).catch(fail);
  });
  rl.on("close", () => {
    Promise.resolve(onEnd())
      .catch(fail)
      .finally(() => process.exit(0));
  });
}

/** Report an error on stderr and exit 1: the runner shows stderr when a peer dies. */
export function fail(err) {
  process.stderr.write(`${role}: ${err?.stack ?? String(err)}\n`);
  process.exit(1);
}

/** Run `main()`, failing the process on an error. */
export function start(roles) {
  const fn = roles[role];
  if (fn === undefined) fail(new Error(`unknown role "${role}"; known: ${Object.keys(roles).join(", ")}`));
  Promise.resolve()
    .then(() => fn(args))
    .catch(fail);
}

/**
 * Counts received messages; once message `count` has come it says
 * {count, t1}, t1 being that moment on the monotonic clock, which every
 * process on the machine shares (the runner pairs it with the sender's t0).
 */
export class Counter {
  n = 0;
  constructor(count, onDone) {
    this.count = count;
    this.onDone = onDone;
  }
  /** Count one message; true once the last one has come. */
  tick() {
    if (++this.n !== this.count) return false;
    this.onDone({ count: this.count, t1: now() });
    return true;
  }
}
