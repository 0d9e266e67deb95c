/**
 * node:assert/strict for the browser: what e2e/core-in-browser.test.ts maps
 * `import assert from "node:assert/strict"` to when it bundles core's unit
 * tests for Chromium. Plain JavaScript, no Node built-ins.
 *
 * Same meaning as Node's strict assert for what the tests use:
 * - equal / strictEqual: Object.is; notEqual / notStrictEqual.
 * - deepEqual / deepStrictEqual: strict structural equality (Object.is on
 *   primitives, same prototype and type, typed arrays byte for byte, arrays
 *   incl. holes, own enumerable keys incl. symbols, Map, Set, Date, RegExp,
 *   Error name and message, boxed primitives, cycles); notDeepEqual.
 * - ok (also the default export called as a function), match, doesNotMatch,
 *   fail, ifError.
 * - throws / rejects (and doesNotThrow / doesNotReject) with Node's validator
 *   forms: a RegExp tested on String(error), an error class (instanceof), a
 *   predicate that must return exactly `true`, or an object whose keys must
 *   deep-equal the error's (a RegExp value matches a string property; an
 *   Error object also checks name and message).
 * A message argument replaces the generated message (as in Node); an Error
 * given as the message is thrown as is. A failure throws AssertionError with
 * code "ERR_ASSERTION", `actual`, `expected` and `operator`; the generated
 * messages show both values and, for deepEqual, where they first differ.
 *
 * e2e/core-in-browser.test.ts checks this module against Node's own
 * node:assert/strict on a table of cases.
 */
import { inspect } from "./inspect.js";

type Message = string | Error | undefined;
type Validator = RegExp | ((e: unknown) => unknown) | (new (...args: never[]) => unknown) | object;

export class AssertionError extends Error {
  readonly code = "ERR_ASSERTION";
  actual: unknown;
  expected: unknown;
  operator: string;
  generatedMessage: boolean;

  constructor(o: { message?: string; actual?: unknown; expected?: unknown; operator?: string; generatedMessage?: boolean }) {
    super(o.message ?? "Failed");
    this.name = "AssertionError";
    this.actual = o.actual;
    this.expected = o.expected;
    this.operator = o.operator ?? "fail";
    this.generatedMessage = o.generatedMessage ?? o.message === undefined;
  }
}

/** Throw the user's message (an Error as is), else the generated one. */
function raise(message: Message, generated: string, actual: unknown, expected: unknown, operator: string): never {
  if (message instanceof Error) throw message;
  throw new AssertionError({
    message: message ?? generated,
    actual,
    expected,
    operator,
    generatedMessage: message === undefined,
  });
}

// --- ok / equal ---

export function ok(...args: [value?: unknown, message?: Message]): void {
  if (args.length === 0) raise(undefined, "No value argument passed to `assert.ok()`", undefined, true, "==");
  const [value, message] = args;
  if (!value) raise(message, `The expression evaluated to a falsy value: ${inspect(value)}`, value, true, "==");
}

export function equal(actual: unknown, expected: unknown, message?: Message): void {
  if (!Object.is(actual, expected)) {
    raise(message, `Expected values to be strictly equal:\n\n${inspect(actual)} !== ${inspect(expected)}\n`, actual, expected, "strictEqual");
  }
}

export function notEqual(actual: unknown, expected: unknown, message?: Message): void {
  if (Object.is(actual, expected)) {
    raise(message, `Expected "actual" to be strictly unequal to: ${inspect(expected)}`, actual, expected, "notStrictEqual");
  }
}

// --- deepEqual ---

export function deepEqual(actual: unknown, expected: unknown, message?: Message): void {
  const where = difference(actual, expected);
  if (where !== undefined) {
    raise(
      message,
      `Expected values to be strictly deep-equal:\n  actual:   ${inspect(actual)}\n  expected: ${inspect(expected)}\n  first difference: ${where}`,
      actual,
      expected,
      "deepStrictEqual",
    );
  }
}

export function notDeepEqual(actual: unknown, expected: unknown, message?: Message): void {
  if (difference(actual, expected) === undefined) {
    raise(message, `Expected "actual" not to be strictly deep-equal to: ${inspect(expected)}`, actual, expected, "notDeepStrictEqual");
  }
}

/** True when Node's assert.deepStrictEqual would accept the two values. */
export function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  return difference(a, b) === undefined;
}

/** Where `a` and `b` first differ under strict deep equality ("at [2]: 1 !== 3"), or undefined when they do not. */
function difference(a: unknown, b: unknown): string | undefined {
  return diff(a, b, "", new Map());
}

const at = (path: string, what: string): string => `${path === "" ? "at the top" : `at ${path}`}: ${what}`;

function diff(a: unknown, b: unknown, path: string, memo: Map<object, Set<object>>): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    return at(path, `${inspect(a)} !== ${inspect(b)}`);
  }
  // A pair already under comparison (a cycle) is taken as equal here; any difference shows elsewhere.
  let seen = memo.get(a);
  if (seen?.has(b)) return undefined;
  if (seen === undefined) memo.set(a, (seen = new Set()));
  seen.add(b);

  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return at(path, `different prototypes: ${inspect(a)} vs ${inspect(b)}`);
  const tag = Object.prototype.toString.call(a);
  if (tag !== Object.prototype.toString.call(b)) return at(path, `different types: ${tag} vs ${Object.prototype.toString.call(b)}`);

  let skipIndices = false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return at(path, `array length ${a.length} !== ${bb.length}`);
    for (let i = 0; i < a.length; i++) {
      const ha = i in a;
      if (ha !== i in bb) return at(`${path}[${i}]`, ha ? "a hole in expected only" : "a hole in actual only");
      const d = diff(a[i], bb[i], `${path}[${i}]`, memo);
      if (d !== undefined) return d;
    }
    skipIndices = true;
  } else if (ArrayBuffer.isView(a)) {
    const bv = b as ArrayBufferView;
    if (a.byteLength !== bv.byteLength) return at(path, `byteLength ${a.byteLength} !== ${bv.byteLength}`);
    if (a instanceof Float32Array || a instanceof Float64Array) {
      const fb = b as Float32Array | Float64Array;
      for (let i = 0; i < a.length; i++) if (!Object.is(a[i], fb[i])) return at(`${path}[${i}]`, `${inspect(a[i])} !== ${inspect(fb[i])}`);
    } else {
      const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      const y = new Uint8Array(bv.buffer, bv.byteOffset, bv.byteLength);
      const step = "BYTES_PER_ELEMENT" in a ? (a as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
      for (let i = 0; i < x.length; i++) {
        if (x[i] !== y[i]) {
          const j = Math.floor(i / step);
          const el = a instanceof DataView ? `byte ${i}` : `${inspect((a as unknown as ArrayLike<unknown>)[j])} !== ${inspect((b as unknown as ArrayLike<unknown>)[j])}`;
          return at(a instanceof DataView ? path : `${path}[${j}]`, el);
        }
      }
    }
    skipIndices = !(a instanceof DataView);
  } else if (a instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && a instanceof SharedArrayBuffer)) {
    const d = diff(new Uint8Array(a), new Uint8Array(b as ArrayBuffer), path, memo);
    if (d !== undefined) return d;
  } else if (a instanceof Date) {
    if (a.getTime() !== (b as Date).getTime()) return at(path, `${inspect(a)} !== ${inspect(b)}`);
  } else if (a instanceof RegExp) {
    const rb = b as RegExp;
    if (a.source !== rb.source || a.flags !== rb.flags || a.lastIndex !== rb.lastIndex) return at(path, `${String(a)} !== ${String(rb)}`);
  } else if (a instanceof Error) {
    const eb = b as Error;
    if (a.name !== eb.name) return at(`${path}.name`, `${inspect(a.name)} !== ${inspect(eb.name)}`);
    if (a.message !== eb.message) return at(`${path}.message`, `${inspect(a.message)} !== ${inspect(eb.message)}`);
  } else if (isBoxed(a)) {
    const va = (a as { valueOf(): unknown }).valueOf();
    const vb = (b as { valueOf(): unknown }).valueOf();
    if (!Object.is(va, vb)) return at(path, `${inspect(va)} !== ${inspect(vb)} (boxed)`);
  } else if (a instanceof Map) {
    const d = diffMap(a, b as Map<unknown, unknown>, path, memo);
    if (d !== undefined) return d;
  } else if (a instanceof Set) {
    const d = diffSet(a, b as Set<unknown>, path, memo);
    if (d !== undefined) return d;
  } else if (tag === "[object WeakMap]" || tag === "[object WeakSet]" || tag === "[object Promise]" || tag === "[object WeakRef]") {
    return at(path, `two different ${tag.slice(8, -1)} objects`);
  }
  return diffKeys(a, b, path, memo, skipIndices);
}

function isBoxed(o: object): boolean {
  return o instanceof Number || o instanceof String || o instanceof Boolean || o instanceof BigInt || o instanceof Symbol;
}

/** Own enumerable keys (strings, then symbols); array and typed-array indices left out when compared already. */
function ownKeys(o: object, skipIndices: boolean): PropertyKey[] {
  const keys: PropertyKey[] = Object.keys(o).filter((k) => !(skipIndices && /^(0|[1-9]\d*)$/.test(k)));
  for (const s of Object.getOwnPropertySymbols(o)) if (Object.prototype.propertyIsEnumerable.call(o, s)) keys.push(s);
  return keys;
}

function diffKeys(a: object, b: object, path: string, memo: Map<object, Set<object>>, skipIndices: boolean): string | undefined {
  const ka = ownKeys(a, skipIndices);
  const kb = ownKeys(b, skipIndices);
  const name = (k: PropertyKey): string => (typeof k === "symbol" ? `[${k.toString()}]` : /^[A-Za-z_$][\w$]*$/.test(String(k)) ? `.${k}` : `[${JSON.stringify(k)}]`);
  for (const k of ka) {
    if (!Object.prototype.propertyIsEnumerable.call(b, k)) return at(`${path}${name(k)}`, "in actual only");
  }
  for (const k of kb) {
    if (!Object.prototype.propertyIsEnumerable.call(a, k)) return at(`${path}${name(k)}`, "in expected only");
  }
  for (const k of ka) {
    const d = diff((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k], `${path}${name(k)}`, memo);
    if (d !== undefined) return d;
  }
  return undefined;
}

const isObj = (v: unknown): v is object => (typeof v === "object" && v !== null) || typeof v === "function";

function diffSet(a: Set<unknown>, b: Set<unknown>, path: string, memo: Map<object, Set<object>>): string | undefined {
  if (a.size !== b.size) return at(path, `Set size ${a.size} !== ${b.size}`);
  const unmatched: unknown[] = [];
  for (const v of a) {
    if (b.has(v)) continue;
    if (!isObj(v)) return at(path, `${inspect(v)} is in actual's Set only`);
    unmatched.push(v);
  }
  const candidates = [...b].filter((v) => isObj(v) && !a.has(v));
  for (const v of unmatched) {
    const i = candidates.findIndex((c) => diff(v, c, path, new Map(memo)) === undefined);
    if (i < 0) return at(path, `${inspect(v)} is in actual's Set only`);
    candidates.splice(i, 1);
  }
  return undefined;
}

function diffMap(a: Map<unknown, unknown>, b: Map<unknown, unknown>, path: string, memo: Map<object, Set<object>>): string | undefined {
  if (a.size !== b.size) return at(path, `Map size ${a.size} !== ${b.size}`);
  const unmatched: [unknown, unknown][] = [];
  for (const [k, v] of a) {
    if (b.has(k)) {
      const d = diff(v, b.get(k), `${path}.get(${inspect(k)})`, memo);
      if (d !== undefined) return d;
    } else if (!isObj(k)) {
      return at(path, `key ${inspect(k)} is in actual's Map only`);
    } else {
      unmatched.push([k, v]);
    }
  }
  const candidates = [...b].filter(([k]) => isObj(k) && !a.has(k));
  for (const [k, v] of unmatched) {
    const i = candidates.findIndex(([ck, cv]) => diff(k, ck, path, new Map(memo)) === undefined && diff(v, cv, path, new Map(memo)) === undefined);
    if (i < 0) return at(path, `key ${inspect(k)} is in actual's Map only`);
    candidates.splice(i, 1);
  }
  return undefined;
}

// --- match ---

export function match(string: unknown, regexp: RegExp, message?: Message): void {
  if (typeof string !== "string") {
    raise(message, `The "string" argument must be of type string. Received ${inspect(string)}`, string, regexp, "match");
  }
  if (!regexp.test(string)) {
    raise(message, `The input did not match the regular expression ${String(regexp)}. Input:\n\n${inspect(string)}\n`, string, regexp, "match");
  }
}

export function doesNotMatch(string: unknown, regexp: RegExp, message?: Message): void {
  if (typeof string !== "string") {
    raise(message, `The "string" argument must be of type string. Received ${inspect(string)}`, string, regexp, "doesNotMatch");
  }
  if (regexp.test(string)) {
    raise(message, `The input was expected to not match the regular expression ${String(regexp)}. Input:\n\n${inspect(string)}\n`, string, regexp, "doesNotMatch");
  }
}

// --- fail / ifError ---

export function fail(message: Message = "Failed"): never {
  if (message instanceof Error) throw message;
  throw new AssertionError({ message, operator: "fail", generatedMessage: false });
}

export function ifError(value: unknown): void {
  if (value !== null && value !== undefined) {
    if (value instanceof Error) throw value;
    raise(undefined, `ifError got unwanted exception: ${inspect(value)}`, value, null, "ifError");
  }
}

// --- throws / rejects ---

const NO_ERROR = Symbol("no error");

export function throws(fn: () => unknown, error?: Validator | string, message?: Message): void {
  if (typeof fn !== "function") throw new TypeError(`assert.throws: the "fn" argument must be a function, got ${inspect(fn)}`);
  let actual: unknown = NO_ERROR;
  try {
    fn();
  } catch (e) {
    actual = e;
  }
  check(actual, error, message, "throws");
}

export async function rejects(promiseFn: Promise<unknown> | (() => Promise<unknown>), error?: Validator | string, message?: Message): Promise<void> {
  check(await settle(promiseFn, "rejects"), error, message, "rejects");
}

export function doesNotThrow(fn: () => unknown, error?: Validator | string, message?: Message): void {
  if (typeof fn !== "function") throw new TypeError(`assert.doesNotThrow: the "fn" argument must be a function, got ${inspect(fn)}`);
  try {
    fn();
  } catch (e) {
    notExpected(e, error, message, "doesNotThrow", "exception");
  }
}

export async function doesNotReject(promiseFn: Promise<unknown> | (() => Promise<unknown>), error?: Validator | string, message?: Message): Promise<void> {
  const actual = await settle(promiseFn, "doesNotReject");
  if (actual !== NO_ERROR) notExpected(actual, error, message, "doesNotReject", "rejection");
}

/** The rejection reason of the promise (or of the promise fn returns), or NO_ERROR when it fulfils. */
async function settle(promiseFn: Promise<unknown> | (() => Promise<unknown>), op: string): Promise<unknown> {
  let p: unknown = promiseFn;
  if (typeof promiseFn === "function") {
    p = promiseFn();
    if (!isThenable(p)) throw new TypeError(`assert.${op}: the function must return a promise, it returned ${inspect(p)}`);
  } else if (!isThenable(p)) {
    throw new TypeError(`assert.${op}: the "promiseFn" argument must be a promise or a function, got ${inspect(p)}`);
  }
  try {
    await p;
  } catch (e) {
    return e;
  }
  return NO_ERROR;
}

function isThenable(p: unknown): p is PromiseLike<unknown> {
  return isObj(p) && typeof (p as { then?: unknown }).then === "function";
}

/** Node's expectedException: does `actual` (what was thrown) satisfy `error`? Throws AssertionError when not. */
function check(actual: unknown, error: Validator | string | undefined, message: Message, op: "throws" | "rejects"): void {
  if (typeof error === "string") {
    message = error;
    error = undefined;
  }
  if (actual === NO_ERROR) {
    const kind = op === "throws" ? "exception" : "rejection";
    const name = typeof error === "function" && error.name ? ` (${error.name})` : "";
    const user = typeof message === "string" ? `: ${message}` : "";
    if (message instanceof Error) throw message;
    throw new AssertionError({ message: `Missing expected ${kind}${name}${user}`, actual: undefined, expected: error, operator: op, generatedMessage: message === undefined });
  }
  if (error === undefined) return;

  const caught = actual instanceof Error ? `\n\nCaught error:\n\n${String(actual)}` : `\n\nCaught: ${inspect(actual)}`;
  if (error instanceof RegExp) {
    const str = String(actual);
    if (error.test(str)) return;
    raise(message, `The input did not match the regular expression ${String(error)}. Input:\n\n${inspect(str)}\n`, actual, error, op);
  }
  if (typeof error !== "function") {
    if (typeof actual !== "object" || actual === null) {
      raise(message, `Expected an error object to compare with ${inspect(error)}, got ${inspect(actual)}`, actual, error, op);
    }
    const keys: PropertyKey[] = Object.keys(error);
    if (error instanceof Error) keys.push("name", "message");
    else if (keys.length === 0) throw new TypeError(`assert.${op}: the validation object may not be empty`);
    for (const k of keys) {
      const want = (error as Record<PropertyKey, unknown>)[k];
      const got = (actual as Record<PropertyKey, unknown>)[k];
      if (typeof got === "string" && want instanceof RegExp && want.test(got)) continue;
      if (!(k in actual)) raise(message, `The error has no property ${String(k)} (expected ${inspect(want)})${caught}`, actual, error, op);
      const d = difference(got, want);
      if (d !== undefined) raise(message, `The error's ${String(k)} is ${inspect(got)}, expected ${inspect(want)} (${d})${caught}`, actual, error, op);
    }
    return;
  }
  if (error.prototype !== undefined && actual instanceof (error as new () => unknown)) return;
  if (Object.prototype.isPrototypeOf.call(Error, error)) {
    const got = actual instanceof Error ? `"${actual.constructor?.name || actual.name}"` : inspect(actual);
    raise(message, `The error is expected to be an instance of "${error.name}". Received ${got}${caught}`, actual, error, op);
  }
  const res: unknown = Reflect.apply(error as (e: unknown) => unknown, {}, [actual]);
  if (res !== true) {
    const name = error.name ? `"${error.name}" ` : "";
    raise(message, `The ${name}validation function is expected to return "true". Received ${inspect(res)}${caught}`, actual, error, op);
  }
}

/** doesNotThrow / doesNotReject: fail when the error is of the kind given (or any kind when none is), else rethrow it. */
function notExpected(actual: unknown, error: Validator | string | undefined, message: Message, op: string, kind: string): void {
  if (typeof error === "string") {
    message = error;
    error = undefined;
  }
  let matches = error === undefined;
  if (error instanceof RegExp) matches = error.test(String(actual));
  else if (typeof error === "function") {
    matches = error.prototype !== undefined && actual instanceof (error as new () => unknown);
    if (!matches && !Object.prototype.isPrototypeOf.call(Error, error)) matches = Reflect.apply(error as (e: unknown) => unknown, {}, [actual]) === true;
  }
  if (!matches) throw actual;
  const detail = actual instanceof Error ? actual.message : inspect(actual);
  raise(message, `Got unwanted ${kind}.\nActual message: "${detail}"`, actual, error, op);
}

// --- the module's shape: `import assert from "node:assert/strict"` and named imports ---

export {
  equal as strictEqual,
  notEqual as notStrictEqual,
  deepEqual as deepStrictEqual,
  notDeepEqual as notDeepStrictEqual,
};

type Assert = typeof ok & {
  ok: typeof ok;
  equal: typeof equal;
  strictEqual: typeof equal;
  notEqual: typeof notEqual;
  notStrictEqual: typeof notEqual;
  deepEqual: typeof deepEqual;
  deepStrictEqual: typeof deepEqual;
  notDeepEqual: typeof notDeepEqual;
  notDeepStrictEqual: typeof notDeepEqual;
  match: typeof match;
  doesNotMatch: typeof doesNotMatch;
  throws: typeof throws;
  rejects: typeof rejects;
  doesNotThrow: typeof doesNotThrow;
  doesNotReject: typeof doesNotReject;
  fail: typeof fail;
  ifError: typeof ifError;
  AssertionError: typeof AssertionError;
  strict: Assert;
};

const assert = ((...args: [value?: unknown, message?: Message]) => ok(...args)) as Assert;
Object.assign(assert, {
  ok,
  equal,
  strictEqual: equal,
  notEqual,
  notStrictEqual: notEqual,
  deepEqual,
  deepStrictEqual: deepEqual,
  notDeepEqual,
  notDeepStrictEqual: notDeepEqual,
  match,
  doesNotMatch,
  throws,
  rejects,
  doesNotThrow,
  doesNotReject,
  fail,
  ifError,
  AssertionError,
});
assert.strict = assert;

export { assert as strict };
export default assert;
