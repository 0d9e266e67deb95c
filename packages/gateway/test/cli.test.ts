/**
 * The spwire-gateway program, run as a child process through tsx: what it
 * prints where, and its exit codes, for help, version and bad configuration.
 * (Starting and stopping a real gateway from the CLI is tested with the
 * gateway itself.)
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "spwire-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI from the sources with `args`, with none of the SPWIRE_ variables of this process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SPWIRE_")));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "packages/gateway/src/cli.ts", ...args], {
      cwd: root,
      env: { ...base, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("--help prints the usage on stdout and exits 0", async () => {
  const r = await cli(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: spwire-gateway/);
  assert.ok(r.stdout.includes("--route PATH=PROTOCOL@URL"));
  assert.equal(r.stderr, "");
});

test("--version prints the package version and exits 0", async () => {
  const pkg = JSON.parse(readFileSync(join(root, "packages/gateway/package.json"), "utf8")) as { version: string };
  const r = await cli(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${pkg.version}\n`);
});

test("an unknown flag: the problem on stderr, nothing on stdout, exit 2", async () => {
  const r = await cli(["--listen", "ws://127.0.0.1:8080", "--bogus"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, "spwire-gateway: --bogus: unknown flag; see --help\n");
});

test("a malformed --route: exit 2 with the expected form", async () => {
  const r = await cli(["--listen", "ws://127.0.0.1:8080", "--route", "/feed=sub"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'spwire-gateway: --route "/feed=sub": expected PATH=PROTOCOL@URL, e.g. /feed=sub@tcp://127.0.0.1:5555\n');
});

test("a bad configuration file: every problem on its own stderr line, naming the field, exit 2", async () => {
  const file = join(tmp, "bad.yaml");
  writeFileSync(
    file,
    `listen: ws://127.0.0.1:8080
routes:
  - path: /feed
    protocol: foo
    upstream: tcp://127.0.0.1:5555
    queue: { policy: drop-all }
`,
  );
  const r = await cli(["--config", file]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.deepEqual(r.stderr.trimEnd().split("\n"), [
    'spwire-gateway: routes[0].protocol: expected one of pair0, pair1, pub, sub, req, rep, push, pull, surveyor, respondent, bus (got "foo")',
    'spwire-gateway: routes[0].queue.policy: expected one of drop-new, drop-old, disconnect, latest (got "drop-all")',
  ]);
});

test("a configuration file that is not valid YAML: exit 2 naming the file", async () => {
  const file = join(tmp, "broken.yaml");
  writeFileSync(file, "listen: ws://127.0.0.1:8080\nroutes: [\n");
  const r = await cli(["--config", file]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.startsWith(`spwire-gateway: ${file}: not valid YAML: `), r.stderr);
});

test("an unset ${VAR} in the file: exit 2 naming the field and the variable", async () => {
  const file = join(tmp, "env.yaml");
  writeFileSync(file, "listen: ws://127.0.0.1:8080\nauth: { tokens: [{ token: '${DASH_TOKEN}' }] }\nroutes: [{ path: /feed, protocol: sub, upstream: 'tcp://127.0.0.1:5555' }]\n");
  const r = await cli(["--config", file]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "spwire-gateway: auth.tokens[0].token: environment variable DASH_TOKEN is not set\n");
});

test("the linked command runs the built CLI: npx spwire-gateway --version (npm test builds dist first)", async () => {
  const out = await new Promise<Run>((resolve, reject) => {
    const child = spawn("npx", ["--no-install", "spwire-gateway", "--version"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
  const version = (JSON.parse(readFileSync(join(root, "packages/gateway/package.json"), "utf8")) as { version: string }).version;
  assert.deepEqual(out, { code: 0, stdout: `${version}\n`, stderr: "" });
});
