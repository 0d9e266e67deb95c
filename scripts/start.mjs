#!/usr/bin/env node
/**
 * `npm start`: today, the sample feed (the live dashboard that will sit on top
 * of it arrives with the gateway and the browser build). It publishes on
 * tcp and ws so nngcat, spcat and browsers can all subscribe; Ctrl-C stops it.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const child = spawn(
  process.execPath,
  ["--conditions=source", "--import", "tsx", "examples/feed/main.ts", ...process.argv.slice(2)],
  { cwd: root, stdio: "inherit" },
);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
