/**
 * Core's own unit tests (packages/core/test/*.test.ts), run inside real
 * Chromium: the proof that @spwire/core is isomorphic, beyond its exports
 * loading in a page (e2e/browser-core.test.ts).
 *
 * How:
 * 1. esbuild bundles each core test file for the browser, with `node:test`
 *    and `node:assert/strict` mapped to small shims
 *    (e2e/support/browser-shims/test.ts, assert.ts). Any other `node:` import,
 *    or a Node global such as Buffer or process used at run time, fails here:
 *    core's tests may import only node:test, node:assert/strict, ../src/...
 *    and ./support.js.
 * 2. One Chromium page (the system's, via launchChromium) imports the bundles
 *    one after another from a static server on 127.0.0.1 and runs each file's
 *    tests in order, each with a time limit, as node:test runs one file.
 * 3. Each browser test becomes one test here, "browser: <name>", under a
 *    describe per file, failing with the browser's error (a skipped or todo
 *    test stays skipped or todo, with its reason).
 *
 * A core test that cannot run in a browser goes in BROWSER_SKIP with the
 * reason; it is then reported as skipped, not left out.
 *
 * The shims are also checked here, in Node, against the real node:assert/strict
 * and node:test on a table of cases: they must fail where Node fails.
 */
import nodeAssert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, test } from "node:test";
import { build, type Plugin } from "esbuild";
import type { Browser } from "playwright-core";
import { launchChromium, repoRoot, serveStatic, type StaticServer } from "./support/browser.js";
import * as shimAssertModule from "./support/browser-shims/assert.js";
import { createHarness, type RunOptions, type TestResult } from "./support/browser-shims/test.js";

const coreTestDir = join(repoRoot, "packages", "core", "test");
const shimDir = join(repoRoot, "e2e", "support", "browser-shims");
const shimTest = join(shimDir, "test.ts");
const shimAssert = join(shimDir, "assert.ts");

/**
 * Core tests that cannot run in a browser: file -> test name -> why. Each is
 * reported as skipped with its reason. Empty: every core test runs in Chromium.
 */
const BROWSER_SKIP: Record<string, Record<string, string>> = {};

/** Time limit of one browser test without its own `timeout` option. */
const PER_TEST_MS = 10_000;
/** Time limit of the whole browser run (all files); the file must stay well under a minute. */
const RUN_MS = 40_000;

interface FileRun {
  file: string;
  results: TestResult[];
}

interface BrowserRun {
  files: FileRun[];
  /** The page's navigator.userAgent, and esbuild's warnings: for the report. */
  notes: string[];
  /** What stopped the run from completing (bundling, Chromium, the overall time limit), if anything. */
  problem?: string;
  ms: number;
}

/** Resolve node:test and node:assert/strict to the shims, refuse every other node: module, and make one entry per test file. */
const shimPlugin: Plugin = {
  name: "spwire-node-test-shims",
  setup(b) {
    b.onResolve({ filter: /^spwire-core-test:/ }, (a) => ({ path: a.path.slice("spwire-core-test:".length), namespace: "spwire-entry" }));
    // The entry imports the test file (registering its tests) and re-exports that bundle's copy of the shim's run().
    b.onLoad({ filter: /.*/, namespace: "spwire-entry" }, (a) => ({
      contents: `import ${JSON.stringify(`spwire-test-file:${a.path}`)};\nexport { run } from ${JSON.stringify(shimTest)};\n`,
      resolveDir: repoRoot,
      loader: "ts",
    }));
    // packages/core says "sideEffects": false; a test file's whole point is its side effect (registering tests).
    b.onResolve({ filter: /^spwire-test-file:/ }, (a) => ({ path: a.path.slice("spwire-test-file:".length), sideEffects: true }));
    b.onResolve({ filter: /^node:test$/ }, () => ({ path: shimTest }));
    b.onResolve({ filter: /^node:assert\/strict$/ }, () => ({ path: shimAssert }));
    b.onResolve({ filter: /^node:/ }, (a) => ({
      errors: [
        {
          text: `"${a.path}" is imported by ${a.importer}: core's tests run in the browser too (e2e/core-in-browser.test.ts), so they may import only node:test and node:assert/strict from Node`,
        },
      ],
    }));
  },
};

/** Bundle each test file to `<outdir>/<name>.js` (name: the file without ".test.ts"); returns esbuild's warnings. */
async function bundle(files: string[], outdir: string): Promise<string[]> {
  const entryPoints = Object.fromEntries(files.map((f) => [basename(f, ".test.ts"), `spwire-core-test:${join(coreTestDir, f)}`]));
  const r = await build({
    entryPoints,
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["source"],
    plugins: [shimPlugin],
    write: true,
    logLevel: "silent",
  });
  if (r.errors.length > 0) throw new Error(r.errors.map((e) => e.text).join("\n"));
  return r.warnings.map((w) => `esbuild warning: ${w.text}${w.location ? ` (${w.location.file}:${w.location.line})` : ""}`);
}

/**
 * The page: `runAll(files, skip, perTest)` imports each file's bundle in turn
 * and runs its tests, reporting each start and result through
 * `__spwireReport` (exposed by the test process) as it happens. Plain JS, not
 * a function passed to page.evaluate: tsx would wrap such a function's inner
 * functions in its `__name` helper, which the page does not have.
 */
const INDEX_HTML = `<!doctype html>
<meta charset="utf-8">
<title>spwire core tests</title>
<link rel="icon" href="data:,">
<script>
  globalThis.runAll = async (files, skip, perTest) => {
    // Reports go out in order, and the last is in before runAll returns.
    let chain = Promise.resolve();
    const send = (file, kind, data) => {
      chain = chain.then(() => globalThis.__spwireReport(file, kind, data));
    };
    for (const file of files) {
      try {
        const m = await import("/bundle/" + file.replace(/\\.test\\.ts$/, "") + ".js");
        const results = await m.run({
          timeout: perTest,
          skip: skip[file] || {},
          onStart: (name) => send(file, "start", name),
          onResult: (r) => send(file, "result", r),
        });
        if (results.length === 0) send(file, "result", { name: "(the file)", status: "fail", ok: false, error: "no tests were registered", durationMs: 0 });
      } catch (e) {
        const error = e instanceof Error ? e.stack || String(e) : String(e);
        send(file, "result", { name: "(loading and running the file)", status: "fail", ok: false, error, durationMs: 0 });
      }
    }
    await chain;
  };
</script>
`;

/** Bundle, serve, run every file's tests in one Chromium page; never throws (a problem is returned). */
async function runInChromium(files: string[]): Promise<BrowserRun> {
  const t0 = Date.now();
  const byFile = new Map<string, FileRun>(files.map((f) => [f, { file: f, results: [] }]));
  let running: string | undefined;
  let outdir: string | undefined;
  let server: StaticServer | undefined;
  let browser: Browser | undefined;
  const logs: string[] = [];
  const notes: string[] = [];
  const done = (problem?: string): BrowserRun => ({ files: [...byFile.values()], notes, ms: Date.now() - t0, ...(problem !== undefined ? { problem } : {}) });
  try {
    outdir = await mkdtemp(join(tmpdir(), "spwire-core-browser-"));
    try {
      notes.push(...(await bundle(files, outdir)));
    } catch (err) {
      return done(`bundling core's tests for the browser failed:\n${err instanceof Error ? err.message : String(err)}`);
    }
    await writeFile(join(outdir, "index.html"), INDEX_HTML);
    server = await serveStatic({ "/bundle/": outdir });
    browser = await launchChromium();
    const page = await browser.newPage();
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.stack ?? e.message}`));
    // Progress as it happens, so a run cut short still says what passed and what was running.
    await page.exposeFunction("__spwireReport", (file: string, kind: "start" | "result", data: string | TestResult) => {
      if (kind === "start") running = `${file} > ${data as string}`;
      else byFile.get(file)?.results.push(data as TestResult);
    });
    await page.goto(`${server.origin}/bundle/index.html`);
    notes.push(`browser: ${await page.evaluate("navigator.userAgent")}`);

    const inPage = page.evaluate(`runAll(${JSON.stringify(files)}, ${JSON.stringify(BROWSER_SKIP)}, ${PER_TEST_MS})`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"expired">((ok) => (timer = setTimeout(() => ok("expired"), RUN_MS)));
    try {
      const outcome = await Promise.race([inPage.then(() => "done" as const), expired]);
      if (outcome === "expired") {
        inPage.catch(() => undefined); // closing the browser below ends it
        return done(`the browser run took longer than ${RUN_MS} ms; it was running: ${running ?? "(nothing yet)"}\n--- page console ---\n${logs.join("\n") || "(empty)"}`);
      }
    } finally {
      clearTimeout(timer);
    }
    return done();
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    return done(`running core's tests in Chromium failed: ${msg}\nlast test started: ${running ?? "(none)"}\n--- page console ---\n${logs.join("\n") || "(empty)"}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
  }
}

// --- the browser run, one node:test test per browser test ---

const files = (await readdir(coreTestDir)).filter((f) => f.endsWith(".test.ts")).sort();
const run = await runInChromium(files);

// Counts and time go in a diagnostic, not in a name: test names stay the same from run to run.
describe("core's unit tests in Chromium", () => {
  test("every core test file was bundled and run in Chromium", (t) => {
    const count = (s: TestResult["status"]): number => run.files.reduce((n, f) => n + f.results.filter((r) => r.status === s).length, 0);
    t.diagnostic(
      `${files.length} files in ${run.ms} ms (bundle, Chromium, tests): ${count("pass")} passed, ${count("fail")} failed, ${count("skip")} skipped, ${count("todo")} todo`,
    );
    for (const n of run.notes) t.diagnostic(n);
    if (run.problem !== undefined) throw new Error(run.problem);
    nodeAssert.ok(files.length > 0, `no *.test.ts in ${coreTestDir}`);
    // A BROWSER_SKIP entry must still name a test: a renamed test would otherwise run unnoticed, or the entry rot.
    const stale = Object.entries(BROWSER_SKIP).flatMap(([file, tests]) =>
      Object.keys(tests)
        .filter((name) => !run.files.some((f) => f.file === file && f.results.some((r) => r.name === name && r.status === "skip")))
        .map((name) => `${file} > ${name}`),
    );
    nodeAssert.deepEqual(stale, [], "BROWSER_SKIP names tests that were not found (renamed or removed?)");
  });

  for (const { file, results } of run.files) {
    describe(`packages/core/test/${file}`, () => {
      for (const r of results) {
        const opts = r.status === "skip" ? { skip: `in the browser: ${r.reason || "skipped"}` } : r.status === "todo" ? { todo: r.reason || true } : {};
        test(`browser: ${r.name}`, opts, () => {
          if (r.error !== undefined) throw new Error(`in Chromium (${r.durationMs} ms):\n${r.error}`);
        });
      }
    });
  }
});

// --- the shims against Node's own node:assert/strict and node:test ---

type AssertLike = typeof nodeAssert;
const shim = shimAssertModule.default as unknown as AssertLike;

class Thing {
  constructor(readonly v: number) {}
}
class MyError extends Error {
  code = "EX";
}
const boom = (): never => {
  throw Object.assign(new MyError("boom: bad thing"), { code: "EX" });
};
const isEx = (e: unknown): boolean => e instanceof MyError && (e as MyError).code === "EX";
const cyc = (): object => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
};
const sparse = (): unknown[] => {
  const a: unknown[] = [1, undefined, 3];
  delete a[1];
  return a;
};

/** Each case runs against node:assert/strict and the shim; both must pass, or both must throw (an AssertionError, unless noted). */
const CASES: [string, (a: AssertLike) => unknown][] = [
  ["equal same", (a) => a.equal(1, 1)],
  ["equal 1 vs '1'", (a) => a.equal(1 as unknown, "1")],
  ["equal NaN", (a) => a.equal(NaN, NaN)],
  ["equal +0 vs -0", (a) => a.equal(0, -0)],
  ["equal objects by identity", (a) => a.equal({}, {})],
  ["notEqual", (a) => a.notEqual(1, 2)],
  ["notEqual same", (a) => a.notEqual(1, 1)],
  ["strictEqual alias", (a) => a.strictEqual("x", "y")],
  ["ok true", (a) => a.ok(1)],
  ["ok 0", (a) => a.ok(0)],
  ["ok ''", (a) => a.ok("", "empty")],
  ["assert() called", (a) => a(false)],
  ["assert() truthy", (a) => a("yes")],
  ["deepEqual arrays", (a) => a.deepEqual([1, [2, 3]], [1, [2, 3]])],
  ["deepEqual arrays differ", (a) => a.deepEqual([1, [2, 3]], [1, [2, 4]])],
  ["deepEqual length", (a) => a.deepEqual([1], [1, 2])],
  ["deepEqual '1' vs 1", (a) => a.deepEqual(["1"], [1])],
  ["deepEqual Uint8Array", (a) => a.deepEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))],
  ["deepEqual Uint8Array differ", (a) => a.deepEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))],
  ["deepEqual Uint8Array vs array", (a) => a.deepEqual(new Uint8Array([1, 2]) as unknown, [1, 2])],
  ["deepEqual Uint8Array vs Int8Array", (a) => a.deepEqual(new Uint8Array([1]) as unknown, new Int8Array([1]))],
  ["deepEqual subarray", (a) => a.deepEqual(new Uint8Array([9, 1, 2]).subarray(1), new Uint8Array([1, 2]))],
  ["deepEqual objects", (a) => a.deepEqual({ a: 1, b: { c: [1] } }, { b: { c: [1] }, a: 1 })],
  ["deepEqual extra key", (a) => a.deepEqual({ a: 1, b: undefined }, { a: 1 })],
  ["deepEqual missing key", (a) => a.deepEqual({ a: 1 }, { a: 1, b: 2 })],
  ["deepEqual prototype", (a) => a.deepEqual(new Thing(1) as unknown, { v: 1 })],
  ["deepEqual class instances", (a) => a.deepEqual(new Thing(1), new Thing(1))],
  ["deepEqual class instances differ", (a) => a.deepEqual(new Thing(1), new Thing(2))],
  ["deepEqual null prototype", (a) => a.deepEqual(Object.create(null) as unknown, {})],
  ["deepEqual -0", (a) => a.deepEqual([0], [-0])],
  ["deepEqual NaN", (a) => a.deepEqual([NaN], [NaN])],
  ["deepEqual undefined vs null", (a) => a.deepEqual([undefined], [null])],
  ["deepEqual hole vs undefined", (a) => a.deepEqual(sparse(), [1, undefined, 3])],
  ["deepEqual Map", (a) => a.deepEqual(new Map([["a", [1]]]), new Map([["a", [1]]]))],
  ["deepEqual Map differ", (a) => a.deepEqual(new Map([["a", 1]]), new Map([["a", 2]]))],
  ["deepEqual Set objects", (a) => a.deepEqual(new Set([{ x: 1 }, 2]), new Set([2, { x: 1 }]))],
  ["deepEqual Set differ", (a) => a.deepEqual(new Set([1, 2]), new Set([1, 3]))],
  ["deepEqual Date", (a) => a.deepEqual(new Date(5), new Date(5))],
  ["deepEqual Date differ", (a) => a.deepEqual(new Date(5), new Date(6))],
  ["deepEqual RegExp flags", (a) => a.deepEqual(/a/g, /a/i)],
  ["deepEqual Errors", (a) => a.deepEqual(new Error("x"), new Error("x"))],
  ["deepEqual Errors differ", (a) => a.deepEqual(new Error("x"), new Error("y"))],
  ["deepEqual cycles", (a) => a.deepEqual(cyc(), cyc())],
  ["deepEqual primitives", (a) => a.deepEqual("x", "x")],
  ["deepEqual functions", (a) => a.deepEqual({ f: () => 1 }, { f: () => 1 })],
  ["deepEqual boxed", (a) => a.deepEqual(new Number(1), new Number(2))],
  ["deepEqual symbol keys", (a) => a.deepEqual({ [Symbol.for("k")]: 1 }, { [Symbol.for("k")]: 2 })],
  ["notDeepEqual", (a) => a.notDeepEqual([1], [2])],
  ["notDeepEqual equal", (a) => a.notDeepEqual([1], [1])],
  ["match", (a) => a.match("hello", /ell/)],
  ["match fails", (a) => a.match("hello", /^ell/)],
  ["doesNotMatch", (a) => a.doesNotMatch("hello", /ell/)],
  ["throws any", (a) => a.throws(boom)],
  ["throws none", (a) => a.throws(() => undefined)],
  ["throws none, with a class", (a) => a.throws(() => undefined, MyError)],
  ["throws RegExp on message", (a) => a.throws(boom, /bad thing/)],
  ["throws RegExp on name", (a) => a.throws(boom, /^Error: boom/)],
  ["throws RegExp no match", (a) => a.throws(boom, /good thing/)],
  ["throws class", (a) => a.throws(boom, MyError)],
  ["throws base class", (a) => a.throws(boom, Error)],
  ["throws wrong class", (a) => a.throws(boom, TypeError)],
  ["throws predicate true", (a) => a.throws(boom, isEx)],
  ["throws predicate false", (a) => a.throws(boom, (e: unknown) => e instanceof TypeError)],
  ["throws predicate truthy but not true", (a) => a.throws(boom, (() => 1) as unknown as (e: unknown) => boolean)],
  ["throws object", (a) => a.throws(boom, { code: "EX", message: "boom: bad thing" })],
  ["throws object RegExp value", (a) => a.throws(boom, { message: /bad/ })],
  ["throws object differ", (a) => a.throws(boom, { code: "EY" })],
  ["throws object missing key", (a) => a.throws(boom, { errno: 1 })],
  ["throws Error object", (a) => a.throws(boom, new MyError("boom: bad thing"))],
  ["throws Error object, other message", (a) => a.throws(boom, new MyError("boom"))],
  ["throws with a string message", (a) => a.throws(() => undefined, "needs to throw")],
  ["doesNotThrow", (a) => a.doesNotThrow(() => 1)],
  ["doesNotThrow throws", (a) => a.doesNotThrow(boom)],
  ["rejects predicate", (a) => a.rejects(Promise.reject(new MyError("x")), (e: unknown) => e instanceof MyError)],
  ["rejects identity", (a) => {
    const reason = new Error("r");
    return a.rejects(Promise.reject(reason), (e: unknown) => e === reason);
  }],
  ["rejects identity wrong", (a) => a.rejects(Promise.reject(new Error("r")), (e: unknown) => e === undefined)],
  ["rejects resolved", (a) => a.rejects(Promise.resolve(1))],
  ["rejects resolved, with a predicate", (a) => a.rejects(Promise.resolve(1), () => true)],
  ["rejects function", (a) => a.rejects(async () => boom(), /bad/)],
  ["rejects RegExp no match", (a) => a.rejects(Promise.reject(new Error("abc")), /xyz/)],
  ["rejects class", (a) => a.rejects(Promise.reject(new MyError("x")), MyError)],
  ["rejects wrong class", (a) => a.rejects(Promise.reject(new Error("x")), MyError)],
  ["rejects object", (a) => a.rejects(Promise.reject(new MyError("x")), { code: "EX" })],
  ["rejects with a message", (a) => a.rejects(Promise.resolve(1), /x/, "should reject")],
  ["doesNotReject", (a) => a.doesNotReject(Promise.resolve(1))],
  ["doesNotReject rejects", (a) => a.doesNotReject(Promise.reject(new Error("x")))],
  ["fail", (a) => a.fail("nope")],
];

/** "pass", or the thrown error's name (and whether it is an AssertionError with code ERR_ASSERTION). */
async function outcome(f: () => unknown): Promise<string> {
  try {
    await f();
    return "pass";
  } catch (e) {
    if (!(e instanceof Error)) return `threw ${String(e)}`;
    return e.name === "AssertionError" ? `AssertionError ${(e as { code?: string }).code}` : `threw ${e.name}`;
  }
}

describe("the browser shims agree with node:assert/strict and node:test", () => {
  test(`assert shim: same pass/fail as node:assert/strict on ${CASES.length} cases`, async () => {
    const wrong: string[] = [];
    for (const [what, f] of CASES) {
      const want = await outcome(() => f(nodeAssert));
      const got = await outcome(() => f(shim));
      if (want !== got) wrong.push(`${what}: node ${want}, shim ${got}`);
    }
    nodeAssert.deepEqual(wrong, []);
  });

  test("assert shim: failure messages say what differs", async () => {
    const msg = async (f: () => unknown): Promise<string> => {
      try {
        await f();
      } catch (e) {
        return (e as Error).message;
      }
      return "(did not throw)";
    };
    nodeAssert.match(await msg(() => shim.equal(3, 4)), /3 !== 4/);
    nodeAssert.match(await msg(() => shim.deepEqual([1, [2, 3]], [1, [2, 4]])), /at \[1\]\[1\]: 3 !== 4/);
    nodeAssert.match(await msg(() => shim.deepEqual(new Uint8Array([1, 2]), new Uint8Array([1, 7]))), /Uint8Array\(2\) \[ 1, 2 \][\s\S]*at \[1\]: 2 !== 7/);
    nodeAssert.match(await msg(() => shim.throws(boom, (e: unknown) => e === 1)), /validation function is expected to return "true"[\s\S]*boom: bad thing/);
    nodeAssert.match(await msg(() => shim.rejects(Promise.resolve(), /x/)), /Missing expected rejection/);
    nodeAssert.equal(await msg(() => shim.equal(1, 2, "custom")), "custom");
  });

  test("test shim: pass, fail, timeout, skip, todo, hooks, t.after, done callbacks, subtests, uncaught work", async () => {
    const h = createHarness();
    const order: string[] = [];
    h.test("passes", () => undefined);
    h.test("fails", () => shim.equal(1, 2));
    h.test("rejects", async () => {
      await Promise.resolve();
      throw new Error("async boom");
    });
    h.test("hangs", { timeout: 30 }, (t) => new Promise((ok) => t.signal.addEventListener("abort", ok)));
    h.test("skipped by option", { skip: "not here" }, () => shim.fail("ran"));
    h.test.skip("skipped by test.skip", () => shim.fail("ran"));
    h.test("skipped by the run", () => shim.fail("ran"));
    h.test("skipped at run time", (t) => t.skip("later"));
    h.test("todo, failing", { todo: "someday" }, () => shim.fail("not yet"));
    h.test("todo, passing", { todo: true }, () => undefined);
    h.test("callback ok", (_t, done) => void setTimeout(() => done(), 1));
    h.test("callback error", (_t, done) => void setTimeout(() => done(new Error("cb")), 1));
    h.test("after hooks run after the test, even when it fails", (t) => {
      t.after(() => void order.push("t.after"));
      order.push("test");
      throw new Error("x");
    });
    h.test("subtests", async (t) => {
      await t.test("ok sub", () => undefined);
      await t.test("bad sub", () => shim.fail("sub"));
    });
    h.describe("group", () => {
      h.beforeEach(() => void order.push("beforeEach"));
      h.afterEach(() => void order.push("afterEach"));
      h.test("inner", () => void order.push("inner"));
    });
    h.describe("broken before", () => {
      h.before(() => {
        throw new Error("setup");
      });
      h.test("never runs", () => shim.fail("ran"));
    });
    const results = await h.run({ timeout: 1000, skip: { "skipped by the run": "listed" } } satisfies RunOptions);
    const got = Object.fromEntries(results.map((r) => [r.name, r.status]));
    nodeAssert.deepEqual(got, {
      passes: "pass",
      fails: "fail",
      rejects: "fail",
      hangs: "fail",
      "skipped by option": "skip",
      "skipped by test.skip": "skip",
      "skipped by the run": "skip",
      "skipped at run time": "skip",
      "todo, failing": "todo",
      "todo, passing": "todo",
      "callback ok": "pass",
      "callback error": "fail",
      "after hooks run after the test, even when it fails": "fail",
      "subtests > ok sub": "pass",
      "subtests > bad sub": "fail",
      subtests: "fail",
      "group > inner": "pass",
      "broken before (before hook)": "fail",
      "broken before > never runs": "skip",
    });
    const by = (n: string): TestResult => results.find((r) => r.name === n)!;
    nodeAssert.match(by("fails").error!, /AssertionError: Expected values to be strictly equal:\s+1 !== 2/);
    nodeAssert.match(by("hangs").error!, /timed out after 30 ms/);
    nodeAssert.equal(by("skipped by the run").reason, "listed");
    nodeAssert.equal(by("todo, failing").ok, true);
    nodeAssert.match(by("todo, failing").error!, /not yet/);
    nodeAssert.deepEqual(order, ["test", "t.after", "beforeEach", "inner", "afterEach"]);
  });
});
