/**
 * A small `util.inspect` for failure messages of the browser shims of
 * node:test and node:assert/strict (see ./test.ts, ./assert.ts). Plain
 * JavaScript only: it runs in Chromium and, for the shims' self-check, in Node.
 *
 *   inspect(new Uint8Array([1, 2]))  -> "Uint8Array(2) [ 1, 2 ]"
 *   inspect({ a: "x", b: [1] })      -> "{ a: 'x', b: [ 1 ] }"
 */

const MAX_DEPTH = 4;
const MAX_ITEMS = 64;
const MAX_STRING = 2000;

export function inspect(value: unknown): string {
  return show(value, 0, new Set());
}

function show(v: unknown, depth: number, seen: Set<object>): string {
  switch (typeof v) {
    case "string":
      return quote(v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}... (${v.length} chars)` : v);
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "bigint":
      return `${v}n`;
    case "undefined":
    case "boolean":
      return String(v);
    case "symbol":
      return v.toString();
    case "function":
      return v.name ? `[Function: ${v.name}]` : "[Function (anonymous)]";
  }
  if (v === null) return "null";
  const o = v as object;
  if (seen.has(o)) return "[Circular]";
  if (o instanceof Error) {
    const code = (o as { code?: unknown }).code;
    return `[${o.name}${code !== undefined ? ` ${String(code)}` : ""}: ${o.message}]`;
  }
  if (o instanceof Date) return Number.isNaN(o.getTime()) ? "Invalid Date" : o.toISOString();
  if (o instanceof RegExp) return String(o);
  if (depth >= MAX_DEPTH) return Array.isArray(o) ? "[Array]" : `[${ctorName(o) ?? "Object"}]`;
  seen.add(o);
  try {
    const inner = (x: unknown): string => show(x, depth + 1, seen);
    if (Array.isArray(o)) return list(`${prefix(o, "Array")}`, o.map(inner), o.length, "[", "]");
    if (ArrayBuffer.isView(o)) {
      if (o instanceof DataView) return `DataView(${o.byteLength}) <${bytes(new Uint8Array(o.buffer, o.byteOffset, o.byteLength))}>`;
      const items = Array.from(o as unknown as ArrayLike<number | bigint>).slice(0, MAX_ITEMS + 1);
      return list(`${ctorName(o) ?? "TypedArray"}(${(o as unknown as ArrayLike<unknown>).length}) `, items.map(inner), (o as unknown as ArrayLike<unknown>).length, "[", "]");
    }
    if (o instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${o.byteLength}, <${bytes(new Uint8Array(o))}> }`;
    if (o instanceof Map) {
      const items = [...o].slice(0, MAX_ITEMS + 1).map(([k, x]) => `${inner(k)} => ${inner(x)}`);
      return list(`Map(${o.size}) `, items, o.size, "{", "}");
    }
    if (o instanceof Set) return list(`Set(${o.size}) `, [...o].slice(0, MAX_ITEMS + 1).map(inner), o.size, "{", "}");
    if (o instanceof Promise) return "Promise { <unknown> }";
    const keys = Reflect.ownKeys(o).filter((k) => Object.prototype.propertyIsEnumerable.call(o, k));
    const items = keys.slice(0, MAX_ITEMS + 1).map((k) => `${key(k)}: ${inner((o as Record<PropertyKey, unknown>)[k])}`);
    return list(prefix(o, "Object"), items, keys.length, "{", "}");
  } finally {
    seen.delete(o);
  }
}

function list(head: string, items: string[], total: number, open: string, close: string): string {
  if (total === 0) return `${head}${open}${close}`;
  const shown = items.slice(0, MAX_ITEMS);
  if (total > MAX_ITEMS) shown.push(`... ${total - MAX_ITEMS} more`);
  return `${head}${open} ${shown.join(", ")} ${close}`;
}

/** "Foo " for an instance of class Foo, "[Object: null prototype] " for a bare object, "" for a plain one. */
function prefix(o: object, plain: string): string {
  const proto = Object.getPrototypeOf(o) as object | null;
  if (proto === null) return "[Object: null prototype] ";
  const name = ctorName(o);
  return name === undefined || name === plain ? "" : `${name} `;
}

function ctorName(o: object): string | undefined {
  const c = (Object.getPrototypeOf(o) as { constructor?: { name?: unknown } } | null)?.constructor;
  return typeof c?.name === "string" && c.name !== "" ? c.name : undefined;
}

function key(k: string | symbol): string {
  if (typeof k === "symbol") return `[${k.toString()}]`;
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}'`;
}

function bytes(b: Uint8Array): string {
  const hex = Array.from(b.subarray(0, MAX_ITEMS), (x) => x.toString(16).padStart(2, "0")).join(" ");
  return b.length > MAX_ITEMS ? `${hex} ... ${b.length - MAX_ITEMS} more bytes` : hex;
}
