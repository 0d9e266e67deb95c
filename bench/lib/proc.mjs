/**
 * Child processes of the bench: Node peers (bench/peers/*.mjs) and the nng
 * program. Every child speaks in lines: JSON objects on stdout (`{"ready":...}`,
 * a result), commands on stdin; it ends when its stdin closes, so a runner
 * that dies takes its children with it.
 *
 * CPU pinning is inherited: `run.mjs --pin` re-executes itself under taskset,
 * and every process started from there (Node, nngbench, Chromium) keeps that
 * affinity.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const benchDir = fileURLToPath(new URL("..", import.meta.url));

/** The newest modification time (ms) of any file under `dir`: whether a build is older than its sources. */
export function newestMtime(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Extra node options for peers (e.g. --cpu-prof when profiling); set by run.mjs. */
export const peerNodeOptions = { spwire: [], all: [] };

export class Child {
  /** @type {import("node:child_process").ChildProcess} */
  proc;
  name;
  #lines = [];
  #waiters = [];
  #stderr = "";
  #exit;
  /** Resolves with the exit code (or signal) once the process has ended and its output is read. */
  exited;

  /** stop() sends SIGTERM at once instead of closing stdin (a program that never reads it). */
  #term;

  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.#term = opts.term === true;
    // A shell only to raise the open-files limit for this child: to `nofile`, or as far as the hard limit allows.
    const raise = `ulimit -n ${opts.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
    const [c, a] = opts.nofile ? ["/bin/sh", ["-c", raise, cmd, ...args]] : [cmd, args];
    this.proc = spawn(c, a, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env, cwd: opts.cwd });
    let buf = "";
    this.proc.stdout.setEncoding("utf8");
    this.proc.stdout.on("data", (s) => {
      buf += s;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line !== "") this.#line(line);
      }
    });
    this.proc.stderr.setEncoding("utf8");
    this.proc.stderr.on("data", (s) => {
      this.#stderr += s;
      if (this.#stderr.length > 20000) this.#stderr = this.#stderr.slice(-20000);
    });
    this.proc.stdin.on("error", () => undefined);
    this.exited = new Promise((resolve) => {
      this.proc.once("close", (code, signal) => {
        this.#exit = code ?? signal;
        for (const w of this.#waiters.splice(0)) w.reject(this.#failure(`exited (${this.#exit}) before saying ${w.what}`));
        resolve(this.#exit);
      });
    });
  }

  /** A Node peer: `node [options] bench/peers/<file> <role> <json args>`. */
  static node(file, role, args, opts = {}) {
    const prof = opts.spwire ? [...peerNodeOptions.spwire] : [];
    // One profile per role, named after it (a profiled run starts each role once).
    if (prof.includes("--cpu-prof")) prof.push(`--cpu-prof-name=${role}.cpuprofile`);
    const extra = [...peerNodeOptions.all, ...prof, ...(opts.nodeOptions ?? [])];
    return new Child(`${role}`, process.execPath, [...extra, `${benchDir}peers/${file}`, role, JSON.stringify(args)], opts);
  }

  #failure(msg) {
    const err = this.#stderr.trim();
    return new Error(`${this.name}: ${msg}${err ? `\n--- its stderr ---\n${err.slice(-4000)}` : ""}`);
  }

  #line(line) {
    let v;
    try {
      v = JSON.parse(line);
    } catch {
      v = line; // nngbench says "ready" as a bare word
    }
    const i = this.#waiters.findIndex((w) => w.match(v));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.resolve(v);
    } else {
      this.#lines.push(v);
    }
  }

  /**
   * The next line for which `match(value)` is true (a string matches a bare
   * word or an object having that key), waiting up to `ms`.
   */
  next(match, ms = 60_000) {
    const pred = typeof match === "string" ? (v) => v === match || (typeof v === "object" && v !== null && match in v) : match;
    const i = this.#lines.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.#lines.splice(i, 1)[0]);
    if (this.#exit !== undefined) return Promise.reject(this.#failure(`exited (${this.#exit}) before saying ${String(match)}`));
    return new Promise((resolve, reject) => {
      const w = { match: pred, resolve, reject, what: String(match), timer: undefined };
      w.timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(this.#failure(`said no ${String(match)} within ${ms} ms`));
      }, ms);
      this.#waiters.push(w);
    });
  }

  /** Write one command line to the child's stdin. */
  send(cmd) {
    if (this.proc.stdin.writable) this.proc.stdin.write(`${typeof cmd === "string" ? cmd : JSON.stringify(cmd)}\n`);
  }

  /** Close stdin (the child's cue to finish), then kill it if it has not ended within `ms`. */
  async stop(ms = 5000) {
    if (this.#exit === undefined) {
      if (this.#term) this.proc.kill("SIGTERM");
      else this.proc.stdin.end();
    }
    const t = setTimeout(() => this.proc.kill("SIGKILL"), ms);
    await this.exited;
    clearTimeout(t);
  }

  get pid() {
    return this.proc.pid;
  }
}

/** Stop every child given (in order), never throwing. */
export async function stopAll(...children) {
  for (const c of children) if (c !== undefined) await c.stop().catch(() => undefined);
}
