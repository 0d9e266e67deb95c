/**
 * Shared helpers for tests that run real peers (nngcat, nanocat) on loopback.
 * Test-only; never imported by package code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resolve once something accepts TCP connections on 127.0.0.1:port (polls, bounded). */
export async function waitForPort(port: number, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

export interface Peer {
  child: ChildProcess;
  /** Everything the peer wrote to stdout so far. */
  stdout(): Buffer;
  stderr(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  kill(): void;
}

/** Start a peer program (nngcat, nanocat, spcat ...) and capture its output. */
export function startPeer(cmd: string, args: string[], opts: { cwd?: string } = {}): Peer {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd });
  const out: Buffer[] = [];
  let err = "";
  child.stdout!.on("data", (b: Buffer) => out.push(b));
  child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | string>((resolve) => {
    // "close" (not "exit"): it fires after stdout and stderr are fully read.
    child.once("close", (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** Wait until `cond()` is true, polling; throws after `tries` polls. Not a timing assertion: a bounded wait. */
export async function until(cond: () => boolean, what: string, tries = 400, every = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`gave up waiting for: ${what}`);
}
