/**
 * The browser build, checked inside `npm test`: it is built here, into a
 * temporary directory, with the same vite.config.ts as `npm run build`, then
 *
 * - the IIFE defines the global `spwire` with every socket class, and no
 *   Node leftovers (`require(`, `node:` imports) are in either build;
 * - an ES import of spwire.js type-checks against the shipped spwire.d.ts,
 *   with nothing but the DOM's types (no @types/node);
 * - scripts/size.mjs passes on it: every page within its budget, no
 *   top-level side effect in spwire.js, and README.md and bench/size.md
 *   showing the same figures (its table is printed as a diagnostic).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const vite = join(root, "node_modules", "vite", "bin", "vite.js");

interface Run {
  code: number | null;
  out: string;
}

/** Run `node args...` in the repository; resolves with its exit code and its stdout and stderr together. */
function node(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out }));
  });
}

let dir = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "spwire-browser-build-"));
  // The declarations the build ships come from tsc's output for core.
  const types = await node([tsc, "-b", "packages/core"]);
  assert.equal(types.code, 0, `tsc -b packages/core failed:\n${types.out}`);
  const built = await node([vite, "build", "--outDir", dir, "--emptyOutDir", "--logLevel", "warn"]);
  assert.equal(built.code, 0, `vite build failed:\n${built.out}`);
}, { timeout: 120_000 });

after(async () => {
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

test("dist/spwire.iife.js defines the global spwire: new spwire.Sub() works in a plain script", async () => {
  const code = await readFile(join(dir, "spwire.iife.js"), "utf8");
  // What a <script> does: run the file as a script and read the global it declares.
  const spwire = new Function(`${code}\nreturn spwire;`)() as Record<string, unknown>;
  for (const name of ["Pub", "Sub", "Req", "Rep", "Push", "Pull", "Pair0", "Pair1", "Bus", "Surveyor", "Respondent", "BrowserSocket", "Message", "SPError", "isSPError"]) {
    assert.equal(typeof spwire[name], "function", `spwire.${name}`);
  }
  const Sub = spwire.Sub as new (o: object) => { subscribe(p: string): void; close(): Promise<void>; info: { name: string } };
  const sub = new Sub({ recvBuffer: 16 });
  sub.subscribe("cpu.");
  assert.equal(sub.info.name, "sub");
  await sub.close();
});

test("neither browser build carries Node code: no require( and no node: import", async () => {
  for (const f of ["spwire.js", "spwire.iife.js"]) {
    const code = await readFile(join(dir, f), "utf8");
    assert.doesNotMatch(code, /\brequire\(|["'`]node:/, f);
    assert.match(await readFile(join(dir, `${f}.map`), "utf8"), /"mappings":"./, `${f} has a source map`);
  }
});

test("an ES import of spwire.js type-checks against spwire.d.ts with only the DOM's types", async () => {
  await writeFile(
    join(dir, "page.ts"),
    `import { Sub, SPError, type Message } from "./spwire.js";

const sub = new Sub();
sub.subscribe("cpu.");
const connected: Promise<void> = sub.dial("ws://127.0.0.1:8080/feed", { gateway: true });
sub.on("piperemove", ({ pipe, error }) => console.log(pipe.url, error?.code, error?.cause));
sub.on("dialerror", ({ attempt, retryIn }) => console.log(attempt, retryIn));
void connected;
export async function next(): Promise<Message> {
  return sub.recv({ timeout: 1000 });
}
export const closed: SPError = new SPError("ECLOSED");
// @ts-expect-error a subscription is a string or bytes, so the types are real, not any
sub.subscribe(42);
`,
  );
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        noEmit: true,
        strict: true,
        target: "es2022",
        module: "esnext",
        moduleResolution: "bundler",
        lib: ["es2022", "dom"],
        types: [],
      },
      files: ["page.ts"],
    }),
  );
  const r = await node([tsc, "-p", dir]);
  assert.equal(r.code, 0, `tsc on a page importing spwire.js:\n${r.out}`);
});

test("scripts/size.mjs: within budget, no top-level side effects, README.md and bench/size.md up to date", async (t) => {
  const r = await node([join(root, "scripts", "size.mjs"), "--dist", dir]);
  for (const line of r.out.trimEnd().split("\n")) t.diagnostic(line);
  assert.equal(r.code, 0, `scripts/size.mjs failed:\n${r.out}`);
});
