/**
 * node:test for the browser: what e2e/core-in-browser.test.ts maps
 * `import { test } from "node:test"` to when it bundles core's unit tests for
 * Chromium. Plain JavaScript, no Node built-ins.
 *
 * Importing a test file registers its tests; `run()` then runs them one after
 * another, as node:test runs the tests of one file, and returns one result
 * per test: { name, status: "pass" | "fail" | "skip" | "todo", error? }.
 *
 * What it understands (the rest of node:test is not exported, so a test file
 * that uses more fails to bundle, loudly):
 * - test / it (name, [options], fn), also test.skip / test.todo / test.only;
 *   options { skip, todo, timeout } (a string is the reason); `only` and
 *   `concurrency` are accepted and ignored (everything runs, in order).
 * - describe / suite (name, [options], fn) with a synchronous fn; names nest
 *   as "suite > test". before / after / beforeEach / afterEach, at the top
 *   level or in a describe.
 * - fn(t) returning a promise or not, or fn(t, done) with a callback.
 *   t.name, t.signal (aborted when the test ends or times out), t.after(fn),
 *   t.diagnostic(msg), t.skip(reason), t.todo(reason), t.test(...) subtests.
 * - A todo test runs; its failure is reported but is not a failure (as in
 *   node:test). A skipped test does not run.
 * - Each test (and each hook) has a time limit: its own `timeout` option, else
 *   the run's `timeout` (default 10 s). A test past it fails with "timed out".
 * - An error thrown into the page (uncaught error, unhandled rejection) while
 *   a test runs fails that test; outside any test it is reported as a failing
 *   result named "(error outside any test)".
 *
 * Each bundled test file has its own copy of this module (the default
 * harness); `createHarness()` makes another, e.g. for the shim's self-check.
 */
import { inspect } from "./inspect.js";

export interface TestOptions {
  skip?: boolean | string;
  todo?: boolean | string;
  timeout?: number;
  only?: boolean;
  concurrency?: unknown;
  signal?: AbortSignal;
}

export interface TestContext {
  readonly name: string;
  readonly signal: AbortSignal;
  after(fn: HookFn): void;
  diagnostic(message: string): void;
  skip(reason?: string): void;
  todo(reason?: string): void;
  test(name: string, optionsOrFn?: TestOptions | TestFn, fn?: TestFn): Promise<void>;
}

export type TestFn = (t: TestContext, done: (err?: unknown) => void) => unknown;
export type HookFn = (t?: unknown) => unknown;
export type SuiteFn = () => unknown;

export interface TestResult {
  /** "name" for a top-level test, "suite > name" inside a describe, "parent > sub" for a subtest. */
  name: string;
  status: "pass" | "fail" | "skip" | "todo";
  /** False only for "fail" (a failing todo test is ok, as in node:test). */
  ok: boolean;
  /** What went wrong: the error's name, message, actual/expected for an assertion, the first stack frames. */
  error?: string;
  /** The skip or todo reason. */
  reason?: string;
  /** t.diagnostic() lines. */
  diagnostics?: string[];
  durationMs: number;
}

export interface RunOptions {
  /** Time limit of a test or hook without its own `timeout` option, ms (default 10000). */
  timeout?: number;
  /** Tests not to run, by full name, with the reason: reported as skipped with it. */
  skip?: Record<string, string>;
  /** Called as each test starts (before its beforeEach hooks). */
  onStart?(name: string): void;
  /** Called with each result as it is known. */
  onResult?(result: TestResult): void;
}

interface TestNode {
  kind: "test";
  name: string;
  options: TestOptions;
  fn: TestFn | undefined;
  done: Deferred;
}

interface SuiteNode {
  kind: "suite";
  name: string;
  options: TestOptions;
  children: (TestNode | SuiteNode)[];
  before: HookFn[];
  after: HookFn[];
  beforeEach: HookFn[];
  afterEach: HookFn[];
  /** Errors found while collecting (an async describe fn, a throwing one). */
  errors: unknown[];
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function suiteNode(name: string, options: TestOptions): SuiteNode {
  return { kind: "suite", name, options, children: [], before: [], after: [], beforeEach: [], afterEach: [], errors: [] };
}

/** Parse node:test's (name, [options], fn) / (options, fn) / (fn) argument forms. */
function args<F>(a: unknown, b: unknown, c: unknown): { name: string; options: TestOptions; fn: F | undefined } {
  let name = "<anonymous>";
  const rest: unknown[] = [a, b, c];
  if (typeof rest[0] === "string") name = rest.shift() as string;
  else if (typeof rest[0] === "function" && (rest[0] as { name?: string }).name) name = (rest[0] as { name: string }).name;
  let options: TestOptions = {};
  if (rest[0] !== null && typeof rest[0] === "object") options = rest.shift() as TestOptions;
  else if (rest[0] === undefined && rest.length > 0 && typeof rest[1] === "function") rest.shift();
  const fn = typeof rest[0] === "function" ? (rest[0] as F) : undefined;
  return { name, options, fn };
}

const reasonOf = (v: boolean | string | undefined): string | undefined => (typeof v === "string" ? v : v ? "" : undefined);

export interface Harness {
  test: TestRegistrar;
  it: TestRegistrar;
  describe: SuiteRegistrar;
  suite: SuiteRegistrar;
  before(fn: HookFn, options?: TestOptions): void;
  after(fn: HookFn, options?: TestOptions): void;
  beforeEach(fn: HookFn, options?: TestOptions): void;
  afterEach(fn: HookFn, options?: TestOptions): void;
  /** Run what was registered (once) and return one result per test. */
  run(options?: RunOptions): Promise<TestResult[]>;
}

export type TestRegistrar = {
  (name: string, fn?: TestFn): Promise<void>;
  (name: string, options: TestOptions, fn?: TestFn): Promise<void>;
  (options: TestOptions, fn?: TestFn): Promise<void>;
  (fn: TestFn): Promise<void>;
  skip: TestRegistrar;
  todo: TestRegistrar;
  only: TestRegistrar;
};

export type SuiteRegistrar = {
  (name: string, fn?: SuiteFn): Promise<void>;
  (name: string, options: TestOptions, fn?: SuiteFn): Promise<void>;
  (fn: SuiteFn): Promise<void>;
  skip: SuiteRegistrar;
  todo: SuiteRegistrar;
  only: SuiteRegistrar;
};

export function createHarness(): Harness {
  const root = suiteNode("", {});
  const stack: SuiteNode[] = [root];
  let started = false;
  const current = (): SuiteNode => stack[stack.length - 1]!;

  const registerTest = (extra: TestOptions) =>
    (a?: unknown, b?: unknown, c?: unknown): Promise<void> => {
      const { name, options, fn } = args<TestFn>(a, b, c);
      const node: TestNode = { kind: "test", name, options: { ...options, ...extra }, fn, done: deferred() };
      if (started) {
        // node:test would run it; here it is reported instead of being lost.
        const err = new Error(`test "${name}" was registered after the run started (register tests at module load or use t.test)`);
        node.fn = () => {
          throw err;
        };
      }
      current().children.push(node);
      return node.done.promise;
    };

  const registerSuite = (extra: TestOptions) =>
    (a?: unknown, b?: unknown, c?: unknown): Promise<void> => {
      const { name, options, fn } = args<SuiteFn>(a, b, c);
      const node = suiteNode(name, { ...options, ...extra });
      current().children.push(node);
      stack.push(node);
      try {
        const r = fn?.();
        if (r !== null && typeof r === "object" && typeof (r as { then?: unknown }).then === "function") {
          node.errors.push(new Error(`describe("${name}") has an async function: the browser shim collects tests synchronously`));
        }
      } catch (e) {
        node.errors.push(e);
      } finally {
        stack.pop();
      }
      return Promise.resolve();
    };

  const withVariants = <T extends (...a: never[]) => unknown>(make: (extra: TestOptions) => T): T & { skip: T; todo: T; only: T } =>
    Object.assign(make({}), { skip: make({ skip: true }), todo: make({ todo: true }), only: make({}) });

  const test = withVariants(registerTest) as unknown as TestRegistrar;
  const describe = withVariants(registerSuite) as unknown as SuiteRegistrar;
  // The variants' own variants (test.skip.todo, ...) are rare; they point at the plain forms' variants.
  for (const r of [test, describe] as unknown as Record<string, Record<string, unknown>>[]) {
    for (const v of ["skip", "todo", "only"]) Object.assign(r[v]!, { skip: r.skip, todo: r.todo, only: r.only });
  }
  const hook = (kind: "before" | "after" | "beforeEach" | "afterEach") => (fn: HookFn, options: TestOptions = {}): void => {
    const wrapped: HookFn = options.timeout === undefined ? fn : Object.assign((t?: unknown) => fn(t), { timeout: options.timeout });
    current()[kind].push(wrapped);
  };

  const run = async (opts: RunOptions = {}): Promise<TestResult[]> => {
    if (started) throw new Error("run() was already called");
    started = true;
    return new Runner(opts).runSuite(root, [], []);
  };

  return {
    test,
    it: test,
    describe,
    suite: describe,
    before: hook("before"),
    after: hook("after"),
    beforeEach: hook("beforeEach"),
    afterEach: hook("afterEach"),
    run,
  };
}

class Timeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/** Run `f` with a time limit; the timer is cleared when it settles. Infinity (or 0 < ms not finite) means none. */
async function limited<T>(f: () => Promise<T> | T, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  if (!Number.isFinite(ms)) return await f();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Timeout(what, ms));
    }, ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(f), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error as text for a report: name and message, actual/expected of an assertion, code, cause, first stack frames. */
export function formatError(e: unknown, depth = 0): string {
  if (!(e instanceof Error)) return `thrown non-Error value: ${inspect(e)}`;
  const x = e as Error & { code?: unknown; actual?: unknown; expected?: unknown; operator?: unknown; generatedMessage?: unknown; cause?: unknown };
  let s = `${x.name}${x.code !== undefined && x.name !== "AssertionError" ? ` [${String(x.code)}]` : ""}: ${x.message}`;
  if (x.name === "AssertionError" && x.generatedMessage === false && "actual" in x) {
    s += `\n  actual:   ${inspect(x.actual)}\n  expected: ${inspect(x.expected)}\n  operator: ${String(x.operator)}`;
  }
  const frames = (x.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l)).slice(0, 8);
  if (frames.length > 0) s += `\n${frames.join("\n")}`;
  if (x.cause !== undefined && depth < 3) s += `\n  [cause] ${formatError(x.cause, depth + 1).replace(/\n/g, "\n  ")}`;
  return s;
}

interface Running {
  errors: unknown[];
}

class Runner {
  private readonly results: TestResult[] = [];
  private readonly timeout: number;
  /** The test running now: errors thrown into the page are charged to it. */
  private running: Running | undefined;

  constructor(private readonly opts: RunOptions) {
    this.timeout = opts.timeout ?? 10_000;
  }

  private emit(r: TestResult): void {
    this.results.push(r);
    this.opts.onResult?.(r);
  }

  /** Listen for uncaught errors and unhandled rejections where there is a `window` (the browser). */
  private listen(): () => void {
    const g = globalThis as unknown as {
      addEventListener?: (type: string, fn: (ev: unknown) => void) => void;
      removeEventListener?: (type: string, fn: (ev: unknown) => void) => void;
    };
    if (typeof g.addEventListener !== "function" || typeof g.removeEventListener !== "function") return () => {};
    const onError = (ev: unknown): void => this.stray((ev as { error?: unknown; message?: string }).error ?? (ev as { message?: string }).message, "uncaught error");
    const onRejection = (ev: unknown): void => this.stray((ev as { reason?: unknown }).reason, "unhandled rejection");
    g.addEventListener("error", onError);
    g.addEventListener("unhandledrejection", onRejection);
    return () => {
      g.removeEventListener!("error", onError);
      g.removeEventListener!("unhandledrejection", onRejection);
    };
  }

  private stray(err: unknown, kind: string): void {
    const wrapped = new Error(`${kind} while this test ran (it may come from an earlier test's leftover work): ${formatError(err)}`);
    if (this.running) this.running.errors.push(wrapped);
    else this.emit({ name: "(error outside any test)", status: "fail", ok: false, error: `${kind}: ${formatError(err)}`, durationMs: 0 });
  }

  async runSuite(root: SuiteNode, names: string[], chain: SuiteNode[]): Promise<TestResult[]> {
    const unlisten = this.listen();
    try {
      await this.suite(root, names, chain, undefined);
    } finally {
      unlisten();
    }
    return this.results;
  }

  private async suite(s: SuiteNode, names: string[], chain: SuiteNode[], inherited: { status: "skip" | "todo"; reason: string } | undefined): Promise<void> {
    const path = s.name === "" ? names : [...names, s.name];
    const label = path.join(" > ") || "(top level)";
    const skipReason = reasonOf(s.options.skip);
    const todoReason = reasonOf(s.options.todo);
    const mark = inherited ?? (skipReason !== undefined ? { status: "skip" as const, reason: skipReason } : undefined);
    const todo = todoReason !== undefined ? { status: "todo" as const, reason: todoReason } : undefined;
    for (const e of s.errors) this.emit({ name: `${label} (collecting)`, status: "fail", ok: false, error: formatError(e), durationMs: 0 });
    const inner = [...chain, s];
    if (mark?.status === "skip") {
      for (const c of s.children) await this.child(c, path, inner, mark);
      return;
    }
    const beforeFailed = await this.hooks(s.before, `${label}: before`);
    if (beforeFailed !== undefined) {
      this.emit({ name: `${label} (before hook)`, status: "fail", ok: false, error: beforeFailed, durationMs: 0 });
      for (const c of s.children) await this.child(c, path, inner, { status: "skip", reason: "its before hook failed" });
    } else {
      for (const c of s.children) await this.child(c, path, inner, todo);
    }
    const afterFailed = await this.hooks(s.after, `${label}: after`);
    if (afterFailed !== undefined) this.emit({ name: `${label} (after hook)`, status: "fail", ok: false, error: afterFailed, durationMs: 0 });
  }

  private async child(c: TestNode | SuiteNode, path: string[], chain: SuiteNode[], mark: { status: "skip" | "todo"; reason: string } | undefined): Promise<void> {
    if (c.kind === "suite") return this.suite(c, path, chain, mark);
    try {
      await this.test(c, [...path, c.name].join(" > "), chain, mark);
    } finally {
      c.done.resolve();
    }
  }

  /** Run hooks in order, each within the time limit; the first failure as text, or undefined. */
  private async hooks(fns: HookFn[], what: string, t?: unknown): Promise<string | undefined> {
    for (const fn of fns) {
      const ms = (fn as { timeout?: number }).timeout ?? this.timeout;
      try {
        await limited(() => fn(t), ms, what);
      } catch (e) {
        return formatError(e);
      }
    }
    return undefined;
  }

  private async test(node: TestNode, name: string, chain: SuiteNode[], mark: { status: "skip" | "todo"; reason: string } | undefined): Promise<void> {
    const skip = this.opts.skip?.[name] ?? reasonOf(node.options.skip) ?? (mark?.status === "skip" ? mark.reason : undefined);
    if (skip !== undefined) {
      this.emit({ name, status: "skip", ok: true, reason: skip, durationMs: 0 });
      return;
    }
    let todo = reasonOf(node.options.todo) ?? (mark?.status === "todo" ? mark.reason : undefined);
    if (node.fn === undefined) {
      // node:test: a test without a function is a no-op, and passes.
      this.emit({ name, status: todo !== undefined ? "todo" : "pass", ok: true, reason: todo, durationMs: 0 });
      return;
    }
    this.opts.onStart?.(name);
    const t0 = Date.now();
    const ac = new AbortController();
    const afters: HookFn[] = [];
    const diagnostics: string[] = [];
    const me: Running = { errors: [] };
    let skipped: string | undefined;
    let subFailures = 0;
    const ctx: TestContext = {
      name: node.name,
      signal: ac.signal,
      after: (fn) => void afters.push(fn),
      diagnostic: (m) => void diagnostics.push(String(m)),
      skip: (reason = "") => void (skipped = reason),
      todo: (reason = "") => void (todo = reason),
      test: async (a?: unknown, b?: unknown, c?: unknown) => {
        const sub = args<TestFn>(a, b, c);
        const outer = this.running;
        const before = this.results.length;
        try {
          await this.test({ kind: "test", name: sub.name, options: sub.options, fn: sub.fn, done: deferred() }, `${name} > ${sub.name}`, [], undefined);
        } finally {
          this.running = outer;
        }
        // As in node:test, a failing subtest fails its parent too.
        subFailures += this.results.slice(before).filter((r) => !r.ok).length;
      },
    };
    const ms = node.options.timeout ?? this.timeout;
    const failures: string[] = [];
    this.running = me;
    try {
      const eachChain = chain.flatMap((s) => s.beforeEach);
      const bf = await this.hooks(eachChain, "beforeEach", ctx);
      if (bf !== undefined) failures.push(`beforeEach hook: ${bf}`);
      else {
        try {
          await limited(() => call(node.fn!, ctx), ms, "test", () => ac.abort(new Timeout("test", ms)));
        } catch (e) {
          failures.push(formatError(e));
        }
      }
      const af = await this.hooks(afters, "t.after");
      if (af !== undefined) failures.push(`t.after hook: ${af}`);
      const ae = await this.hooks([...chain].reverse().flatMap((s) => s.afterEach), "afterEach", ctx);
      if (ae !== undefined) failures.push(`afterEach hook: ${ae}`);
      // Let an unhandled rejection made by this test surface while it is still the running one.
      await new Promise((r) => setTimeout(r, 0));
      for (const e of me.errors) failures.push(formatError(e));
      if (subFailures > 0) failures.push(`${subFailures} subtest${subFailures === 1 ? "" : "s"} failed`);
    } finally {
      this.running = undefined;
      if (!ac.signal.aborted) ac.abort();
    }
    const durationMs = Date.now() - t0;
    const extra = diagnostics.length > 0 ? { diagnostics } : {};
    if (failures.length > 0) {
      const error = failures.join("\n---\n");
      this.emit(todo !== undefined ? { name, status: "todo", ok: true, reason: todo, error, durationMs, ...extra } : { name, status: "fail", ok: false, error, durationMs, ...extra });
    } else if (skipped !== undefined) {
      this.emit({ name, status: "skip", ok: true, reason: skipped, durationMs, ...extra });
    } else if (todo !== undefined) {
      this.emit({ name, status: "todo", ok: true, reason: todo, durationMs, ...extra });
    } else {
      this.emit({ name, status: "pass", ok: true, durationMs, ...extra });
    }
  }
}

/** Call a test function: with a done callback when it takes two parameters, else awaiting what it returns. */
function call(fn: TestFn, t: TestContext): Promise<unknown> | unknown {
  if (fn.length < 2) return (fn as (t: TestContext) => unknown)(t);
  return new Promise<void>((resolve, reject) => {
    const r = fn(t, (err?: unknown) => (err === undefined || err === null ? resolve() : reject(err)));
    if (r !== null && typeof r === "object" && typeof (r as { then?: unknown }).then === "function") {
      reject(new Error("the test function takes a done callback and also returns a promise: use one or the other"));
    }
  });
}

// --- the module's shape: one harness per bundled test file ---

const harness = createHarness();
export const test = harness.test;
export const it = harness.it;
export const describe = harness.describe;
export const suite = harness.suite;
export const before = harness.before;
export const after = harness.after;
export const beforeEach = harness.beforeEach;
export const afterEach = harness.afterEach;
/** Run the tests this module's importers registered. Not part of node:test: the page calls it. */
export const run = harness.run;
export default test;
