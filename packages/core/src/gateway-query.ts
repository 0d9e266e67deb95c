/**
 * The query a Sub puts in its URL when it dials a gateway (`{ gateway: true }`),
 * and the parser the gateway reads it with. Both live here so the two ends
 * cannot drift apart.
 *
 * Wire format: one `sub=<value>` per subscription, in subscription order,
 * where value is the prefix's bytes with every byte outside
 * `A-Z a-z 0-9 - . _ ~` written `%XX` (upper-case hex). The empty prefix is
 * `sub=` (everything). A Sub with no subscription sends the bare `nosub`
 * (nothing). Other parameters of the URL are kept in their order; `sub` and
 * `nosub` parameters already in it are replaced.
 *
 * Prefixes are bytes, not text: URLSearchParams and encodeURIComponent work on
 * strings and would turn a prefix that is not valid UTF-8 into U+FFFD, so the
 * encoding is done byte by byte here. Parameter names are matched literally
 * (`su%62` is not `sub`).
 */
import { SPError } from "./errors.js";

/** One byte as it goes into the query: RFC 3986 unreserved bytes as themselves, the rest as `%XX`. */
function encodeByte(b: number): string {
  const c = String.fromCharCode(b);
  // Without the u flag \w is ASCII only: A-Z a-z 0-9 _; with - . ~ that is the unreserved set.
  return /[\w.~-]/.test(c) ? c : (b < 16 ? "%0" : "%") + b.toString(16).toUpperCase();
}

function encodePrefix(prefix: Uint8Array): string {
  let s = "";
  for (const b of prefix) s += encodeByte(b);
  return s;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** `%XX` to its byte; every other character stays as its UTF-8 bytes ('+' is '+', not a space). */
function decodeValue(v: string): Uint8Array {
  const raw = new TextEncoder().encode(v);
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b !== 0x25) {
      out[n++] = b;
      continue;
    }
    const hi = i + 1 < raw.length ? hexValue(raw[i + 1]!) : -1;
    const lo = i + 2 < raw.length ? hexValue(raw[i + 2]!) : -1;
    if (hi < 0 || lo < 0) {
      throw new SPError("EINVAL", `malformed percent escape in sub=${v} (at byte ${i}; want %XX with two hex digits)`);
    }
    out[n++] = (hi << 4) | lo;
    i += 2;
  }
  return out.slice(0, n);
}

function paramName(param: string): string {
  const eq = param.indexOf("=");
  return eq < 0 ? param : param.slice(0, eq);
}

/**
 * `url` with its query's `sub`/`nosub` parameters replaced by `subs` (see the
 * file comment for the format). Scheme, host, path, the other parameters and
 * the fragment are left as written.
 *
 * @example
 * gatewaySubUrl("ws://gw/feed?token=t", [new TextEncoder().encode("cpu.")]);
 * // "ws://gw/feed?token=t&sub=cpu."
 */
export function gatewaySubUrl(url: string, subs: readonly Uint8Array[]): string {
  const hash = url.indexOf("#");
  const fragment = hash < 0 ? "" : url.slice(hash);
  const beforeHash = hash < 0 ? url : url.slice(0, hash);
  const q = beforeHash.indexOf("?");
  const base = q < 0 ? beforeHash : beforeHash.slice(0, q);
  const query = q < 0 ? "" : beforeHash.slice(q + 1);
  const kept = query.split("&").filter((p) => p !== "" && paramName(p) !== "sub" && paramName(p) !== "nosub");
  const ours = subs.length === 0 ? ["nosub"] : subs.map((s) => "sub=" + encodePrefix(s));
  return `${base}?${[...kept, ...ours].join("&")}${fragment}`;
}

/**
 * The subscriptions a query declares, for the gateway: `search` is the query
 * with or without its leading `?` (URL.search), without the fragment.
 *
 * Returns undefined when the query has no `sub` or `nosub` parameter (the
 * client declared nothing), `[]` for `nosub` alone, and otherwise the decoded
 * `sub` values in order (a bare `sub` reads as `sub=`; a `nosub` next to
 * `sub` parameters adds nothing). Throws SPError
 * EINVAL on a malformed escape (`%G1`, a trailing `%`).
 */
export function parseSubQuery(search: string): Uint8Array[] | undefined {
  const q = search.startsWith("?") ? search.slice(1) : search;
  let declared = false;
  const subs: Uint8Array[] = [];
  for (const p of q.split("&")) {
    const name = paramName(p);
    if (name === "nosub") {
      declared = true;
    } else if (name === "sub") {
      declared = true;
      subs.push(decodeValue(p.slice(name.length + 1)));
    }
  }
  return declared ? subs : undefined;
}
