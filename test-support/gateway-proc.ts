/**
 * The gateway as its own process, for tests where the process itself is the
 * fault (SIGKILL, a restart on the same port): the spwire-gateway program
 * from the sources through tsx (as packages/gateway/test/cli-run.test.ts runs
 * it), given a YAML file written from a config object. Its stdout is pino
 * JSON lines; /metrics is read over HTTP. Test-only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { until } from "./peers.js";

const root = fileURLToPath(new URL("../", import.meta.url));

/** One pino line from the program's stdout. */
export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface GatewayProc {
  child: ChildProcess;
  /** ws://127.0.0.1:<port> */
  url: string;
  /** http://127.0.0.1:<port> */
  http: string;
  /** Every complete log line so far. */
  lines(): LogLine[];
  stderr(): string;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<number | string>;
  /** Send `signal` (default SIGKILL) unless it has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** The /metrics text. */
  metrics(): Promise<string>;
  /** One sample's value from /metrics (summed over the series matching `labels`); 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** Write `config` (a GatewayInput as plain data) as YAML to `dir/name`; returns the path. */
export function writeConfig(dir: string, config: object, name = "gateway.yaml"): string {
  const path = join(dir, name);
  writeFileSync(path, YAML.stringify(config));
  return path;
}

/** The value of `spwire_gateway_<name>` in a Prometheus text, summed over the series whose labels include `labels`. */
export function metricIn(text: string, name: string, labels: Record<string, string> = {}): number {
  const full = `spwire_gateway_${name}`;
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== full) continue;
    const have: Record<string, string> = {};
    for (const kv of (m[2] ?? "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) have[kv[1]!] = kv[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/**
 * Start `spwire-gateway --config <configPath>` and resolve once it logged
 * "gateway listening" (throws with its stderr if it exits first). The
 * caller kills it (`kill()` in a finally).
 */
export async function startGatewayProc(configPath: string): Promise<GatewayProc> {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "packages/gateway/src/cli.ts", "--config", configPath], {
    cwd: root,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SPWIRE_"))),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | string>((resolve) => child.once("close", (code, signal) => resolve(code ?? signal ?? -1)));
  const lines = (): LogLine[] =>
    stdout
      .split("\n")
      .slice(0, -1)
      .map((l) => JSON.parse(l) as LogLine);
  const kill = (signal: NodeJS.Signals = "SIGKILL"): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  try {
    await until(() => stdout.includes('"gateway listening"') || child.exitCode !== null || child.signalCode !== null, "the gateway process to listen", 1200);
  } catch (err) {
    kill();
    throw new Error(`${(err as Error).message}; stderr: ${stderr}`, { cause: err });
  }
  if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the gateway process exited: ${stderr}`);
  const url = String(lines().find((l) => l.msg === "gateway listening")!.url);
  const http = url.replace(/^ws/, "http");
  const metrics = async (): Promise<string> => (await fetch(`${http}/metrics`)).text();
  return {
    child,
    url,
    http,
    lines,
    stderr: () => stderr,
    exited,
    kill,
    metrics,
    metric: async (name, labels = {}) => metricIn(await metrics(), name, labels),
  };
}
