/**
 * A spwire Pub in its own process, as an upstream a test can stop with
 * SIGSTOP and resume with SIGCONT (nngcat can only publish one fixed message
 * a second). Test-only.
 *
 *   node --conditions=source --import tsx test-support/pub-proc.ts tcp://127.0.0.1:0
 *
 * Prints `listening <url>` once it listens. Then each stdin line
 * `send <count> <size> <topics>` publishes the next `count` numbered
 * messages of `size` bytes, `t<k> <seq, 6 digits> ` padded with dots, where
 * k = seq % topics; it waits before each send until every pipe has taken the
 * previous one, so the Pub itself drops nothing. Then it prints
 * `sent <total so far> <pub drops>`. Use publishProc() to drive it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Pub, silentLogger } from "@spwire/node";
import { until } from "./peers.js";

/** The message `seq` as the process publishes it. */
export function numbered(seq: number, size: number, topics: number): Buffer {
  const head = Buffer.from(`t${seq % topics} ${String(seq).padStart(6, "0")} `);
  return Buffer.concat([head, Buffer.alloc(Math.max(0, size - head.length), 0x2e)]);
}

/** The sequence number in a message made by numbered() (topics < 10). */
export function seqOf(m: Uint8Array): number {
  return Number(Buffer.from(m.subarray(3, 9)).toString());
}

export interface PubProc {
  child: ChildProcess;
  url: string;
  /** Publish `count` more; resolves with the total published once they are all sent. */
  send(count: number, size: number, topics: number): Promise<number>;
  /** Messages the Pub itself dropped (from the last `sent` line). */
  drops(): number;
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<number | string>;
}

/** Start the publisher process listening on `listen` (e.g. tcp://127.0.0.1:0). */
export async function publishProc(listen: string): Promise<PubProc> {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fileURLToPath(import.meta.url), listen], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<number | string>((resolve) => child.once("close", (code, signal) => resolve(code ?? signal ?? -1)));
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(l));
  const kill = (signal: NodeJS.Signals = "SIGKILL"): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  try {
    await until(() => lines.some((l) => l.startsWith("listening ")) || child.exitCode !== null, "the publisher process to listen", 1200);
  } catch (err) {
    kill();
    throw err;
  }
  const first = lines.find((l) => l.startsWith("listening "));
  if (first === undefined) throw new Error(`the publisher process exited: ${stderr}`);
  let drops = 0;
  return {
    child,
    url: first.slice("listening ".length),
    send: async (count, size, topics) => {
      const seen = lines.length;
      child.stdin!.write(`send ${count} ${size} ${topics}\n`);
      await until(() => lines.slice(seen).some((l) => l.startsWith("sent ")) || child.exitCode !== null, "the publisher to send", 2400);
      const [, total, d] = lines.slice(seen).find((l) => l.startsWith("sent "))!.split(" ");
      drops = Number(d);
      return Number(total);
    },
    drops: () => drops,
    kill,
    exited,
  };
}

async function main(listen: string): Promise<void> {
  const pub = new Pub({ logger: silentLogger });
  const url = (await pub.listen(listen)).url;
  process.stdout.write(`listening ${url}\n`);
  let seq = 0;
  const rl = createInterface({ input: process.stdin });
  rl.on("close", () => void pub.close());
  for await (const line of rl) {
    const [cmd, count, size, topics] = line.split(" ");
    if (cmd !== "send") throw new Error(`unknown command: ${line}`);
    for (let i = 0; i < Number(count); i++) {
      while (!pub.pipes.every((p) => p.idle)) await new Promise((r) => setTimeout(r, 1));
      await pub.send(numbered(seq++, Number(size), Number(topics)));
    }
    process.stdout.write(`sent ${seq} ${pub.stats.drops}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv[2] ?? "tcp://127.0.0.1:0").catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}
