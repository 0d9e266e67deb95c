/**
 * Who may open a route, and what they may do on it. An upgrade request is
 * checked here before the gateway hands its pipe to the route: its Origin
 * against the allowlist, then its token (a static token from the config, or a
 * JWT verified with an HS256 secret or a local JWKS), or a library user's own
 * hook instead of the token checks. The result is an Identity whose Rights the
 * ClientPipe enforces per message with allowedPrefix().
 *
 * Contract: authenticate() never throws and never rejects; every path ends in
 * an AuthOutcome. Refusal messages are for logs and the close reason, and
 * never contain the presented token.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { createLocalJWKSet, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions, type JWSHeaderParameters } from "jose";
import {
  ALL_RIGHTS,
  REFUSALS,
  type AuthConfig,
  type AuthenticateHook,
  type AuthOutcome,
  type Identity,
  type JwtConfig,
  type RefusalReason,
  type Rights,
  type RouteConfig,
} from "./types.js";

// ---------------------------------------------------------------------------
// Where a token comes from
// ---------------------------------------------------------------------------

/**
 * The token a client presents, or undefined. Looked up in this order, the
 * first non-empty value winning:
 * 1. `Authorization: Bearer <token>` (Node clients; a browser's WebSocket
 *    cannot set headers),
 * 2. the cookie named `auth.cookie`,
 * 3. the query parameter `auth.queryParam` of the request URL.
 *
 * @example
 * tokenFrom(req, config.auth); // "eyJhbGciOi..." from "/feed?token=eyJhbGciOi..."
 */
export function tokenFrom(req: IncomingMessage, auth: AuthConfig): string | undefined {
  return bearerToken(req.headers.authorization) ?? cookieValue(req.headers.cookie, auth.cookie) ?? queryValue(req.url, auth.queryParam);
}

/** The credentials of a `Bearer` Authorization header (scheme case-insensitive, RFC 7235). */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bearer[ \t]+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * The first non-empty value of cookie `name` in a Cookie header
 * ("a=1; b=2"; node joins repeated Cookie headers with "; "). A value in
 * double quotes loses them (RFC 6265 allows DQUOTE-wrapped values); a value
 * with percent escapes is decoded, since pages usually set the cookie with
 * encodeURIComponent. A malformed escape leaves the value as sent.
 */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || name === "") return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let v = pair.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (v.includes("%")) {
      try {
        v = decodeURIComponent(v);
      } catch {
        // Not percent-encoding after all (URIError): the raw value is the token.
      }
    }
    if (v !== "") return v;
  }
  return undefined;
}

function queryValue(url: string | undefined, name: string): string | undefined {
  if (url === undefined || name === "") return undefined;
  const q = url.indexOf("?");
  if (q < 0) return undefined;
  // URLSearchParams never throws: malformed escapes are kept as they are.
  const v = new URLSearchParams(url.slice(q + 1)).get(name);
  return v === null || v === "" ? undefined : v;
}

// ---------------------------------------------------------------------------
// Origin and route checks
// ---------------------------------------------------------------------------

/** Normalized allowlists, per list: config lists are resolved once and never mutated. */
const originSets = new WeakMap<readonly string[], { any: boolean; set: Set<string> }>();

/**
 * Whether a browser origin may open a WebSocket here.
 *
 * - `allow` undefined: every origin is allowed.
 * - `"*"` in `allow`: every origin is allowed.
 * - otherwise the serialized origin must equal an entry, compared as origins:
 *   scheme and host case-insensitively, default ports (80 for http/ws, 443
 *   for https/wss) dropped, so "HTTPS://App.example:443" matches
 *   "https://app.example".
 *
 * A request without an Origin header is allowed. Browsers always send Origin
 * on a WebSocket upgrade, so its absence means a non-browser client (nngcat,
 * a Node program), and an origin check cannot constrain those anyway: anyone
 * outside a browser can send whatever Origin they like. Such clients are held
 * back by tokens, not by origins. An Origin that is present but does not
 * parse (e.g. "null" from a sandboxed frame) only matches an identical entry.
 *
 * @example
 * originAllowed("https://app.example:443", ["https://app.example"]); // true
 */
export function originAllowed(origin: string | undefined, allow: string[] | undefined): boolean {
  if (allow === undefined || origin === undefined) return true;
  let norm = originSets.get(allow);
  if (norm === undefined) {
    norm = { any: allow.includes("*"), set: new Set(allow.map(normalizeOrigin)) };
    originSets.set(allow, norm);
  }
  return norm.any || norm.set.has(normalizeOrigin(origin));
}

/** "scheme://host[:port]", lower-case, default port dropped; text that is no URL origin stays as it is (trimmed, lower-case). */
function normalizeOrigin(s: string): string {
  const t = s.trim().toLowerCase();
  try {
    const u = new URL(t);
    // WHATWG URL already lower-cases host and drops default ports for the special schemes.
    if (u.host !== "") return `${u.protocol}//${u.host}`;
  } catch {
    // Not a URL (e.g. "null"): compare the text itself.
  }
  return t;
}

/**
 * Whether `rights` let a connection open the route at `path`: `"*"` in
 * `rights.routes`, or the exact path.
 *
 * @example
 * routeAllowed({ routes: ["/feed"], read: [""], publish: [] }, "/feed"); // true
 */
export function routeAllowed(rights: Rights, path: string): boolean {
  return rights.routes.includes("*") || rights.routes.includes(path);
}

// ---------------------------------------------------------------------------
// Prefix checks (per message, so allocation-free)
// ---------------------------------------------------------------------------

const utf8 = new TextEncoder();

/**
 * Rights prefixes as bytes (UTF-8), for allowedPrefix().
 *
 * @example
 * toPrefixes(["prices.", "news."]);
 */
export function toPrefixes(list: readonly string[]): readonly Uint8Array[] {
  // Shared between connections with the same rights (read-only from here on):
  // encoded per connection, they were ~400 bytes of every idle browser.
  const key = JSON.stringify(list);
  let out = encoded.get(key);
  if (out === undefined) {
    if (encoded.size >= ENCODED_MAX) encoded.clear();
    out = Object.freeze(list.map((p) => utf8.encode(p)));
    encoded.set(key, out);
  }
  return out;
}

/** Encoded prefix lists by content; cleared when full (JWTs can carry any rights). */
const encoded = new Map<string, readonly Uint8Array[]>();
const ENCODED_MAX = 1024;

/**
 * Whether `data`, read from `offset`, starts with one of `prefixes`. An empty
 * prefix matches every message; no prefixes match none. Runs for every
 * message a browser sends or receives, so it allocates nothing.
 *
 * @example
 * allowedPrefix(toPrefixes(["news."]), utf8("news.eu|text")); // true
 */
export function allowedPrefix(prefixes: readonly Uint8Array[], data: Uint8Array, offset = 0): boolean {
  const avail = data.length - offset;
  outer: for (let i = 0; i < prefixes.length; i++) {
    const p = prefixes[i]!;
    if (p.length > avail) continue;
    for (let j = 0; j < p.length; j++) {
      if (data[offset + j] !== p[j]) continue outer;
    }
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// The authenticator
// ---------------------------------------------------------------------------

/** Decides each upgrade request; built once per gateway by createAuthenticator(). */
export interface Authenticator {
  /** The outcome for one upgrade request on `route`. Never rejects. */
  authenticate(req: IncomingMessage, route: RouteConfig): Promise<AuthOutcome>;
}

/** Verifies a JWT string; rejects with jose's errors (or ours, shaped alike). */
type JwtVerifier = (token: string, now: number) => Promise<JWTPayload>;

/**
 * The gateway's authenticator.
 *
 * On a route with `auth: false` every request is accepted as "anonymous" with
 * ALL_RIGHTS, and no token is looked at. Otherwise:
 *
 * - With a `hook`, the hook alone decides (static tokens and JWTs are not
 *   consulted; it receives the token from tokenFrom()). An Identity it returns
 *   is still refused with `route-forbidden` if its rights do not include the
 *   route; a refusal it returns is passed on; a throw is `auth-error`.
 * - Without: no token is `token-missing`; a static token (compared in
 *   constant time) is checked for expiry (`token-expired`) and route
 *   (`route-forbidden`); any other token is verified as a JWT if `auth.jwt`
 *   is set (`token-expired`, `token-invalid`, `route-forbidden`), and is
 *   `token-invalid` if not.
 *
 * JWT rights live in the claim `jwt.claim` (default "spwire") as
 * `{ routes?: string[], read?: string[], publish?: string[] }`. `routes`
 * defaults to none, so a JWT must name its routes; `read` and `publish`
 * default to `[""]` (everything on those routes). A JWT without the claim is
 * refused `route-forbidden` ("token carries no spwire rights": it is a valid
 * token, just not one for this gateway); a claim of the wrong shape is
 * `token-invalid` (the issuer made a mistake). The subject is the `sub` claim,
 * or "jwt".
 *
 * Rejects (only here, at start-up) when `auth.jwt` names neither a secret nor
 * a JWKS file, or the JWKS file cannot be read or is not a JWKS.
 *
 * @param now Clock in epoch ms, for token expiry (tests pass their own).
 * @example
 * const auth = await createAuthenticator(config.auth);
 * const out = await auth.authenticate(req, route);
 * if (!out.ok) refuse(REFUSALS[out.reason], out.message);
 */
export async function createAuthenticator(auth: AuthConfig, hook?: AuthenticateHook, now: () => number = Date.now): Promise<Authenticator> {
  // Digests of the static tokens: equal lengths for timingSafeEqual whatever the tokens' lengths.
  const statics = auth.tokens.map((t) => ({ t, digest: sha256(t.token) }));
  const verifyJwt = auth.jwt === undefined ? undefined : await jwtVerifier(auth.jwt);

  async function check(req: IncomingMessage, route: RouteConfig): Promise<AuthOutcome> {
    if (!route.auth) return { ok: true, identity: { subject: "anonymous", rights: ALL_RIGHTS } };
    const token = tokenFrom(req, auth);
    if (hook !== undefined) return runHook(hook, req, route, token);
    if (token === undefined) {
      return refuse("token-missing", `no token (Authorization: Bearer, cookie "${auth.cookie}" or query parameter "${auth.queryParam}")`);
    }

    // Every static token is compared, match or not, so timing tells nothing about which (or whether one) matched.
    const digest = sha256(token);
    let found: (typeof statics)[number] | undefined;
    for (const s of statics) {
      if (timingSafeEqual(s.digest, digest) && found === undefined) found = s;
    }
    if (found !== undefined) {
      const t = found.t;
      if (t.expiresAt !== undefined && t.expiresAt <= now()) return refuse("token-expired", `token of "${t.subject}" expired`);
      return grant(t.subject, t.rights, route);
    }

    if (verifyJwt === undefined) return refuse("token-invalid", "unknown token");
    let payload: JWTPayload;
    try {
      payload = await verifyJwt(token, now());
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (code === "ERR_JWT_EXPIRED") return refuse("token-expired", "JWT expired");
      // jose's messages name the check that failed ('unexpected "iss" claim value', "signature verification failed") and never quote the token.
      const why = typeof code === "string" && code.startsWith("ERR_J") && err instanceof Error ? err.message : "it could not be verified";
      return refuse("token-invalid", `JWT refused: ${why}`);
    }
    const claimName = auth.jwt!.claim;
    const claim = payload[claimName];
    if (claim === undefined) return refuse("route-forbidden", "token carries no spwire rights");
    const rights = rightsFromClaim(claim);
    if (typeof rights === "string") return refuse("token-invalid", `JWT claim "${claimName}": ${rights}`);
    const subject = typeof payload.sub === "string" && payload.sub !== "" ? payload.sub : "jwt";
    return grant(subject, rights, route);
  }

  return {
    async authenticate(req, route) {
      try {
        return await check(req, route);
      } catch (err) {
        // A bug or an environment failure (e.g. crypto unavailable): refuse, and say why in the log.
        return refuse("auth-error", `authentication failed: ${errorMessage(err)}`);
      }
    },
  };
}

function refuse(reason: RefusalReason, message: string): AuthOutcome {
  return { ok: false, reason, message };
}

function grant(subject: string, rights: Rights, route: RouteConfig): AuthOutcome {
  if (!routeAllowed(rights, route.path)) return refuse("route-forbidden", `"${subject}" may not open ${route.path}`);
  return { ok: true, identity: { subject, rights } };
}

async function runHook(hook: AuthenticateHook, req: IncomingMessage, route: RouteConfig, token: string | undefined): Promise<AuthOutcome> {
  let r: unknown;
  try {
    r = await hook(req, { route, token });
  } catch (err) {
    return refuse("auth-error", `authenticate hook failed: ${errorMessage(err)}`);
  }
  if (typeof r === "object" && r !== null && "reason" in r) {
    const { reason, message } = r as { reason: unknown; message: unknown };
    if (typeof reason !== "string" || !Object.hasOwn(REFUSALS, reason)) {
      return refuse("auth-error", `authenticate hook returned an unknown refusal reason ${JSON.stringify(reason)}`);
    }
    return refuse(reason as RefusalReason, typeof message === "string" ? message : `refused by the authenticate hook (${reason})`);
  }
  if (!isIdentity(r)) {
    return refuse("auth-error", "authenticate hook returned neither an Identity ({ subject, rights: { routes, read, publish } }) nor { reason, message }");
  }
  return grant(r.subject, r.rights, route);
}

function isIdentity(x: unknown): x is Identity {
  if (typeof x !== "object" || x === null) return false;
  const { subject, rights } = x as Partial<Identity>;
  if (typeof subject !== "string" || typeof rights !== "object" || rights === null) return false;
  return isStrings(rights.routes) && isStrings(rights.read) && isStrings(rights.publish);
}

function isStrings(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === "string");
}

/** Rights from a JWT's spwire claim, or what is wrong with the claim. */
function rightsFromClaim(claim: unknown): Rights | string {
  if (typeof claim !== "object" || claim === null || Array.isArray(claim)) return "must be an object { routes, read, publish }";
  const c = claim as Record<string, unknown>;
  const out: Rights = { routes: [], read: [""], publish: [""] };
  for (const k of ["routes", "read", "publish"] as const) {
    const v = c[k];
    if (v === undefined) continue;
    if (!isStrings(v)) return `"${k}" must be an array of strings`;
    out[k] = v;
  }
  return out;
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------
// JWT verification
// ---------------------------------------------------------------------------

/** An error shaped like jose's, so the caller maps it the same way. */
class KeyUnavailable extends Error {
  readonly code = "ERR_JWKS_NO_MATCHING_KEY";
}

/**
 * A verifier for `jwt`: the HS256 secret for HS* tokens, the JWKS for the
 * others, chosen by the token's `alg` header (after jose has checked it
 * against `jwt.algorithms`). Keeping the two apart means an HS256 token can
 * never be checked against a public key taken as an HMAC secret.
 */
async function jwtVerifier(jwt: JwtConfig): Promise<JwtVerifier> {
  const secret = jwt.secret !== undefined && jwt.secret !== "" ? utf8.encode(jwt.secret) : undefined;
  if (secret === undefined && jwt.jwksFile === undefined) {
    throw new Error("auth.jwt needs a secret (for HS256) or a jwksFile (for RS256/ES256); neither is set");
  }
  const jwks = jwt.jwksFile === undefined ? undefined : await loadJwks(jwt.jwksFile);

  const getKey = (header: JWSHeaderParameters): Promise<CryptoKey | Uint8Array> | Uint8Array => {
    const alg = header.alg ?? "";
    if (alg.startsWith("HS")) {
      if (secret === undefined) throw new KeyUnavailable(`no secret is configured for ${alg} tokens`);
      return secret;
    }
    if (jwks === undefined) throw new KeyUnavailable(`no JWKS is configured for ${alg} tokens`);
    return jwks(header);
  };

  return async (token, now) => {
    const opts: JWTVerifyOptions = { algorithms: jwt.algorithms, currentDate: new Date(now) };
    if (jwt.issuer !== undefined) opts.issuer = jwt.issuer;
    if (jwt.audience !== undefined) opts.audience = jwt.audience;
    try {
      return (await jwtVerify(token, getKey, opts)).payload;
    } catch (err) {
      // Several JWKS keys fit a token without "kid" (say, during key rotation): jose hands back the candidates; try each.
      if ((err as { code?: unknown }).code !== "ERR_JWKS_MULTIPLE_MATCHING_KEYS") throw err;
      for await (const key of err as AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(token, key, opts)).payload;
        } catch (e) {
          // A wrong key fails the signature; any other failure (expiry, issuer) means this key was the right one.
          if ((e as { code?: unknown }).code !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") throw e;
        }
      }
      throw Object.assign(new Error("signature verification failed"), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
    }
  };
}

/** The JWKS file, read once at start-up, as a jose key resolver. */
async function loadJwks(file: string): Promise<ReturnType<typeof createLocalJWKSet>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`auth.jwt.jwksFile ${file}: cannot read it: ${errorMessage(err)}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`auth.jwt.jwksFile ${file}: not JSON: ${errorMessage(err)}`, { cause: err });
  }
  let jwks: ReturnType<typeof createLocalJWKSet>;
  try {
    jwks = createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]);
  } catch (err) {
    throw new Error(`auth.jwt.jwksFile ${file}: not a JSON Web Key Set ({ "keys": [...] }): ${errorMessage(err)}`, { cause: err });
  }
  // jose imports keys lazily, at the first token that uses one; catch the likely mistakes now, at start-up, instead.
  const keys = (json as { keys: Record<string, unknown>[] }).keys;
  if (keys.length === 0) throw new Error(`auth.jwt.jwksFile ${file}: the key set has no keys`);
  keys.forEach((k, i) => {
    if (k.kty === "oct" || "d" in k) {
      throw new Error(`auth.jwt.jwksFile ${file}: key ${i}${typeof k.kid === "string" ? ` (kid "${k.kid}")` : ""} is a private or secret key; a JWKS here holds public keys only`);
    }
  });
  return jwks;
}
