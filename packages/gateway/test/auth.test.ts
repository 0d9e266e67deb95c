/**
 * The gateway's authentication: where a token is found, origin and route
 * rules, static tokens, JWTs (HS256 with a secret; RS256/ES256 with a JWKS
 * file written here from freshly generated keys), the library hook, and the
 * byte-prefix checks the ClientPipe runs per message. Requests are plain
 * `{ headers, url }` objects: authentication reads nothing else.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { allowedPrefix, createAuthenticator, originAllowed, routeAllowed, toPrefixes, tokenFrom } from "../src/auth.js";
import {
  ALL_RIGHTS,
  REFUSALS,
  type AuthConfig,
  type AuthOutcome,
  type JwtConfig,
  type RefusalReason,
  type RouteConfig,
  type StaticToken,
} from "../src/types.js";

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

function req(headers: Record<string, string> = {}, url = "/feed"): IncomingMessage {
  return { headers, url } as unknown as IncomingMessage;
}

function route(path = "/feed", auth = true): RouteConfig {
  return {
    path,
    protocol: "sub",
    upstream: "tcp://127.0.0.1:5555",
    upstreamMode: "dial",
    upstreamTls: undefined,
    mode: "shared",
    maxMessageSize: 1 << 20,
    queue: { messages: 100, bytes: 1 << 20, policy: "drop-new", socketBytes: 1 << 16 },
    rateLimit: undefined,
    auth,
    origins: undefined,
    topicDelimiter: "|",
  };
}

function authConfig(over: Partial<AuthConfig> = {}): AuthConfig {
  return { tokens: [], jwt: undefined, cookie: "spwire_token", queryParam: "token", ...over };
}

function jwtConfig(over: Partial<JwtConfig> = {}): JwtConfig {
  return {
    secret: undefined,
    jwksFile: undefined,
    algorithms: ["HS256", "RS256", "ES256"],
    issuer: undefined,
    audience: undefined,
    claim: "spwire",
    ...over,
  };
}

const bearer = (t: string) => req({ authorization: `Bearer ${t}` });

/** Fixed clock for every JWT test: 2030-01-01T00:00:00Z. */
const T0 = Date.UTC(2030, 0, 1);
const sec = (ms: number) => Math.floor(ms / 1000);

function assertRefused(out: AuthOutcome, reason: RefusalReason, code: number, message?: RegExp): void {
  assert.equal(out.ok, false, `expected a refusal, got ${JSON.stringify(out)}`);
  if (out.ok) return;
  assert.equal(out.reason, reason, out.message);
  assert.equal(REFUSALS[out.reason], code);
  if (message) assert.match(out.message, message);
}

function assertOk(out: AuthOutcome): { subject: string; rights: { routes: string[]; read: string[]; publish: string[] } } {
  assert.equal(out.ok, true, `expected acceptance, got ${JSON.stringify(out)}`);
  if (!out.ok) throw new Error("unreachable");
  return out.identity;
}

const SECRET = "a-shared-secret-of-reasonable-length-0123456789";

async function hs256(claims: Record<string, unknown>, opts: { secret?: string; exp?: number; iss?: string; aud?: string; sub?: string } = {}): Promise<string> {
  const j = new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt(sec(T0));
  if (opts.exp !== undefined) j.setExpirationTime(opts.exp);
  if (opts.iss !== undefined) j.setIssuer(opts.iss);
  if (opts.aud !== undefined) j.setAudience(opts.aud);
  if (opts.sub !== undefined) j.setSubject(opts.sub);
  return j.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

async function signWith(key: CryptoKey, alg: string, claims: Record<string, unknown>, kid?: string, sub = "svc"): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
    .setSubject(sub)
    .setIssuedAt(sec(T0))
    .setExpirationTime(sec(T0) + 3600)
    .sign(key);
}

const feedRights = { spwire: { routes: ["/feed"], read: ["prices."], publish: [] } };

let dir: string | undefined;
async function tmp(): Promise<string> {
  dir ??= await mkdtemp(join(tmpdir(), "spwire-auth-"));
  return dir;
}
after(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function writeJwks(name: string, keys: JWK[] | unknown): Promise<string> {
  const file = join(await tmp(), name);
  await writeFile(file, typeof keys === "string" ? keys : JSON.stringify(Array.isArray(keys) ? { keys } : keys));
  return file;
}

async function publicJwk(key: CryptoKey, alg: string, kid?: string): Promise<JWK> {
  const jwk = await exportJWK(key);
  return kid === undefined ? { ...jwk, alg, use: "sig" } : { ...jwk, alg, kid, use: "sig" };
}

// ---------------------------------------------------------------------------
// tokenFrom
// ---------------------------------------------------------------------------

const cfg = authConfig();

test("tokenFrom: a Bearer header wins over the cookie and the query parameter", () => {
  const r = req({ authorization: "Bearer from-header", cookie: "spwire_token=from-cookie" }, "/feed?token=from-query");
  assert.equal(tokenFrom(r, cfg), "from-header");
});

test("tokenFrom: the Bearer scheme is case-insensitive and surrounding spaces are ignored", () => {
  assert.equal(tokenFrom(req({ authorization: "bearer abc.def" }), cfg), "abc.def");
  assert.equal(tokenFrom(req({ authorization: "BEARER   abc.def  " }), cfg), "abc.def");
});

test("tokenFrom: an Authorization header of another scheme falls through to the cookie", () => {
  const r = req({ authorization: "Basic dXNlcjpwYXNz", cookie: "spwire_token=from-cookie" });
  assert.equal(tokenFrom(r, cfg), "from-cookie");
});

test("tokenFrom: the cookie wins over the query parameter", () => {
  const r = req({ cookie: "spwire_token=from-cookie" }, "/feed?token=from-query");
  assert.equal(tokenFrom(r, cfg), "from-cookie");
});

test("tokenFrom: the query parameter is used when nothing else is presented", () => {
  assert.equal(tokenFrom(req({}, "/feed?topic=a&token=from-query&x=1"), cfg), "from-query");
  assert.equal(tokenFrom(req({}, "/feed?token=a%2Bb%3D"), cfg), "a+b=");
});

test("tokenFrom: picks the named cookie out of several, not one whose name merely contains it", () => {
  const header = "theme=dark; xspwire_token=wrong1;spwire_token_old=wrong2;  spwire_token=right ; lang=en";
  assert.equal(tokenFrom(req({ cookie: header }), cfg), "right");
});

test("tokenFrom: a quoted cookie value loses its quotes; percent escapes are decoded", () => {
  assert.equal(tokenFrom(req({ cookie: 'a=1; spwire_token="quoted.value"; b=2' }), cfg), "quoted.value");
  assert.equal(tokenFrom(req({ cookie: "spwire_token=a%2Bb%3D%3D" }), cfg), "a+b==");
  // A value with "=" inside (base64 padding) keeps everything after the first "=".
  assert.equal(tokenFrom(req({ cookie: "spwire_token=abc==" }), cfg), "abc==");
  // A stray "%" that is not an escape is kept as sent.
  assert.equal(tokenFrom(req({ cookie: "spwire_token=100%off" }), cfg), "100%off");
});

test("tokenFrom: the cookie and query names come from the config", () => {
  const c = authConfig({ cookie: "sess", queryParam: "access_token" });
  assert.equal(tokenFrom(req({ cookie: "spwire_token=no; sess=yes" }), c), "yes");
  assert.equal(tokenFrom(req({}, "/feed?token=no&access_token=yes"), c), "yes");
});

test("tokenFrom: empty values count as absent, and the next source is used", () => {
  assert.equal(tokenFrom(req({ authorization: "Bearer " }, "/feed?token=q"), cfg), "q");
  assert.equal(tokenFrom(req({ cookie: "spwire_token=" }, "/feed?token=q"), cfg), "q");
  assert.equal(tokenFrom(req({ cookie: 'spwire_token=""' }, "/feed?token=q"), cfg), "q");
  assert.equal(tokenFrom(req({ authorization: "Bearer", cookie: "spwire_token=" }, "/feed?token="), cfg), undefined);
});

test("tokenFrom: nothing presented is undefined", () => {
  assert.equal(tokenFrom(req({}, "/feed"), cfg), undefined);
  assert.equal(tokenFrom({ headers: {} } as unknown as IncomingMessage, cfg), undefined);
});

// ---------------------------------------------------------------------------
// originAllowed, routeAllowed
// ---------------------------------------------------------------------------

test("originAllowed: no allowlist allows every origin", () => {
  assert.equal(originAllowed("https://evil.example", undefined), true);
});

test('originAllowed: "*" allows every origin', () => {
  assert.equal(originAllowed("https://anything.example:8443", ["https://app.example", "*"]), true);
  assert.equal(originAllowed("null", ["*"]), true);
});

test("originAllowed: an exact origin is allowed and others are refused", () => {
  const allow = ["https://app.example", "http://localhost:5173"];
  assert.equal(originAllowed("https://app.example", allow), true);
  assert.equal(originAllowed("http://localhost:5173", allow), true);
  assert.equal(originAllowed("https://evil.example", allow), false);
  assert.equal(originAllowed("https://app.example.evil.example", allow), false);
  assert.equal(originAllowed("http://localhost:5174", allow), false);
  assert.equal(originAllowed("http://localhost", allow), false);
});

test("originAllowed: scheme counts: http is not https", () => {
  assert.equal(originAllowed("http://app.example", ["https://app.example"]), false);
});

test("originAllowed: default ports are normalized away on both sides", () => {
  assert.equal(originAllowed("https://app.example:443", ["https://app.example"]), true);
  assert.equal(originAllowed("https://app.example", ["https://app.example:443"]), true);
  assert.equal(originAllowed("http://app.example:80", ["http://app.example"]), true);
  assert.equal(originAllowed("https://app.example:80", ["https://app.example"]), false);
  assert.equal(originAllowed("https://app.example:8443", ["https://app.example"]), false);
});

test("originAllowed: scheme and host compare case-insensitively", () => {
  assert.equal(originAllowed("HTTPS://App.Example", ["https://app.example"]), true);
  assert.equal(originAllowed("https://app.example", ["HTTPS://APP.EXAMPLE:443"]), true);
});

test("originAllowed: a request without Origin (a non-browser client) is allowed by any list", () => {
  assert.equal(originAllowed(undefined, ["https://app.example"]), true);
  assert.equal(originAllowed(undefined, []), true);
});

test('originAllowed: an empty list refuses every browser; "null" only matches an explicit entry', () => {
  assert.equal(originAllowed("https://app.example", []), false);
  assert.equal(originAllowed("null", ["https://app.example"]), false);
  assert.equal(originAllowed("null", ["null"]), true);
});

test("routeAllowed: * or the exact path, never a prefix", () => {
  assert.equal(routeAllowed({ routes: ["*"], read: [], publish: [] }, "/feed"), true);
  assert.equal(routeAllowed({ routes: ["/feed"], read: [], publish: [] }, "/feed"), true);
  assert.equal(routeAllowed({ routes: ["/feed"], read: [], publish: [] }, "/feed2"), false);
  assert.equal(routeAllowed({ routes: ["/feed"], read: [], publish: [] }, "/feed/x"), false);
  assert.equal(routeAllowed({ routes: [], read: [""], publish: [""] }, "/feed"), false);
});

// ---------------------------------------------------------------------------
// allowedPrefix, toPrefixes
// ---------------------------------------------------------------------------

const bytes = (s: string) => new TextEncoder().encode(s);

test("toPrefixes encodes each prefix as UTF-8", () => {
  const p = toPrefixes(["", "ab", "é"]);
  assert.deepEqual(
    p.map((x) => [...x]),
    [[], [0x61, 0x62], [0xc3, 0xa9]],
  );
});

test("allowedPrefix: the empty prefix matches every body, the empty body included", () => {
  assert.equal(allowedPrefix(toPrefixes([""]), bytes("anything")), true);
  assert.equal(allowedPrefix(toPrefixes([""]), new Uint8Array(0)), true);
});

test("allowedPrefix: no prefixes match nothing", () => {
  assert.equal(allowedPrefix([], bytes("anything")), false);
  assert.equal(allowedPrefix([], new Uint8Array(0)), false);
});

test("allowedPrefix: a body matches when it starts with one of the prefixes", () => {
  const p = toPrefixes(["prices.", "news.eu"]);
  assert.equal(allowedPrefix(p, bytes("news.eu|hello")), true);
  assert.equal(allowedPrefix(p, bytes("prices.")), true);
  assert.equal(allowedPrefix(p, bytes("news.us|hello")), false);
  assert.equal(allowedPrefix(p, bytes("price")), false, "a body shorter than the prefix");
  assert.equal(allowedPrefix(p, bytes("xprices.a")), false);
});

test("allowedPrefix: matching starts at the offset (after a header)", () => {
  const p = toPrefixes(["news."]);
  const body = new Uint8Array([0x80, 0, 0, 1, ...bytes("news.x")]);
  assert.equal(allowedPrefix(p, body, 4), true);
  assert.equal(allowedPrefix(p, body, 0), false);
  assert.equal(allowedPrefix(p, body, 5), false);
  assert.equal(allowedPrefix(toPrefixes([""]), body, body.length), true);
  assert.equal(allowedPrefix(p, bytes("news."), 5), false, "offset at the end leaves no room");
});

test("allowedPrefix: compares bytes, multi-byte UTF-8 included", () => {
  const p = toPrefixes(["é"]);
  assert.equal(allowedPrefix(p, bytes("étoile")), true);
  assert.equal(allowedPrefix(p, bytes("e")), false);
  assert.equal(allowedPrefix(p, new Uint8Array([0xc3])), false);
});

// ---------------------------------------------------------------------------
// Routes without auth
// ---------------------------------------------------------------------------

test("a route without auth accepts anyone as anonymous with all rights, ignoring a garbage token", async () => {
  const auth = await createAuthenticator(authConfig({ jwt: jwtConfig({ secret: SECRET }) }));
  const id = assertOk(await auth.authenticate(bearer("not-a-token-at-all"), route("/open", false)));
  assert.equal(id.subject, "anonymous");
  assert.deepEqual(id.rights, ALL_RIGHTS);
});

test("a route without auth does not call the hook", async () => {
  let calls = 0;
  const auth = await createAuthenticator(authConfig(), () => {
    calls++;
    return { reason: "token-invalid", message: "no" };
  });
  assertOk(await auth.authenticate(req(), route("/open", false)));
  assert.equal(calls, 0);
});

// ---------------------------------------------------------------------------
// Static tokens
// ---------------------------------------------------------------------------

const tokens: StaticToken[] = [
  { token: "s3cret-feed", subject: "dashboard", rights: { routes: ["/feed"], read: ["prices."], publish: [] }, expiresAt: undefined },
  { token: "s3cret-all", subject: "ops", rights: { routes: ["*"], read: [""], publish: [""] }, expiresAt: T0 + 60_000 },
  { token: "s3cret-old", subject: "legacy", rights: { routes: ["*"], read: [""], publish: [""] }, expiresAt: T0 },
];

test("static token: accepted with its subject and rights", async () => {
  const auth = await createAuthenticator(authConfig({ tokens }), undefined, () => T0);
  const id = assertOk(await auth.authenticate(bearer("s3cret-feed"), route("/feed")));
  assert.equal(id.subject, "dashboard");
  assert.deepEqual(id.rights, { routes: ["/feed"], read: ["prices."], publish: [] });
});

test("static token: found in the cookie or the query parameter too", async () => {
  const auth = await createAuthenticator(authConfig({ tokens }), undefined, () => T0);
  assert.equal(assertOk(await auth.authenticate(req({ cookie: "spwire_token=s3cret-feed" }), route("/feed"))).subject, "dashboard");
  assert.equal(assertOk(await auth.authenticate(req({}, "/feed?token=s3cret-feed"), route("/feed"))).subject, "dashboard");
});

test("static token: accepted before expiresAt, token-expired at and after it", async () => {
  let now = T0 - 1;
  const auth = await createAuthenticator(authConfig({ tokens }), undefined, () => now);
  assert.equal(assertOk(await auth.authenticate(bearer("s3cret-old"), route())).subject, "legacy");
  now = T0;
  assertRefused(await auth.authenticate(bearer("s3cret-old"), route()), "token-expired", 4440, /legacy/);
  now = T0 + 1;
  assertRefused(await auth.authenticate(bearer("s3cret-old"), route()), "token-expired", 4440);
  assert.equal(assertOk(await auth.authenticate(bearer("s3cret-all"), route())).subject, "ops");
});

test("static token: a route outside its rights is route-forbidden", async () => {
  const auth = await createAuthenticator(authConfig({ tokens }), undefined, () => T0);
  assertRefused(await auth.authenticate(bearer("s3cret-feed"), route("/admin")), "route-forbidden", 4403, /\/admin/);
});

test("static token: an unknown token without JWT config is token-invalid, and the message does not echo it", async () => {
  const auth = await createAuthenticator(authConfig({ tokens }), undefined, () => T0);
  const out = await auth.authenticate(bearer("s3cret-fee"), route());
  assertRefused(out, "token-invalid", 4402);
  assert.ok(!out.ok && !out.message.includes("s3cret-fee"));
  // A prefix or extension of a real token is not that token.
  assertRefused(await auth.authenticate(bearer("s3cret-feed-x"), route()), "token-invalid", 4402);
});

test("no token at all is token-missing", async () => {
  const auth = await createAuthenticator(authConfig({ tokens }), undefined, () => T0);
  assertRefused(await auth.authenticate(req(), route()), "token-missing", 4401);
  assertRefused(await auth.authenticate(req({ cookie: "other=1" }, "/feed?token="), route()), "token-missing", 4401);
});

// ---------------------------------------------------------------------------
// HS256 JWTs
// ---------------------------------------------------------------------------

async function hsAuth(over: Partial<JwtConfig> = {}, now = () => T0) {
  return createAuthenticator(authConfig({ tokens, jwt: jwtConfig({ secret: SECRET, ...over }) }), undefined, now);
}

test("HS256 JWT: accepted with the rights of its claim and its sub", async () => {
  const auth = await hsAuth();
  const t = await hs256(feedRights, { sub: "alice", exp: sec(T0) + 60 });
  const id = assertOk(await auth.authenticate(bearer(t), route("/feed")));
  assert.equal(id.subject, "alice");
  assert.deepEqual(id.rights, { routes: ["/feed"], read: ["prices."], publish: [] });
});

test('HS256 JWT: without sub the subject is "jwt"', async () => {
  const auth = await hsAuth();
  assert.equal(assertOk(await auth.authenticate(bearer(await hs256(feedRights)), route("/feed"))).subject, "jwt");
});

test("HS256 JWT: signed with another secret is token-invalid (signature)", async () => {
  const auth = await hsAuth();
  const t = await hs256(feedRights, { secret: "another-secret-of-reasonable-length-9876543210" });
  const out = await auth.authenticate(bearer(t), route("/feed"));
  assertRefused(out, "token-invalid", 4402, /signature verification failed/);
  assert.ok(!out.ok && !out.message.includes(t.split(".")[2]!), "the message does not echo the token");
});

test("HS256 JWT: a tampered payload is token-invalid", async () => {
  const auth = await hsAuth();
  const [h, , s] = (await hs256(feedRights)).split(".");
  const forged = Buffer.from(JSON.stringify({ spwire: { routes: ["*"] } })).toString("base64url");
  assertRefused(await auth.authenticate(bearer(`${h}.${forged}.${s}`), route("/feed")), "token-invalid", 4402, /signature/);
});

test("HS256 JWT: token-expired once `now` passes exp, accepted before", async () => {
  let now = T0;
  const auth = await hsAuth({}, () => now);
  const t = await hs256(feedRights, { exp: sec(T0) + 60 });
  assertOk(await auth.authenticate(bearer(t), route("/feed")));
  now = T0 + 61_000;
  assertRefused(await auth.authenticate(bearer(t), route("/feed")), "token-expired", 4440);
});

test("HS256 JWT: a wrong issuer is token-invalid", async () => {
  const auth = await hsAuth({ issuer: "https://id.example" });
  assertOk(await auth.authenticate(bearer(await hs256(feedRights, { iss: "https://id.example" })), route("/feed")));
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights, { iss: "https://other.example" })), route("/feed")), "token-invalid", 4402, /iss/);
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights)), route("/feed")), "token-invalid", 4402, /iss/);
});

test("HS256 JWT: a wrong audience is token-invalid", async () => {
  const auth = await hsAuth({ audience: "spwire-gateway" });
  assertOk(await auth.authenticate(bearer(await hs256(feedRights, { aud: "spwire-gateway" })), route("/feed")));
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights, { aud: "billing" })), route("/feed")), "token-invalid", 4402, /aud/);
});

test("HS256 JWT: refused when HS256 is not among the algorithms", async () => {
  const auth = await hsAuth({ algorithms: ["RS256"] });
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights)), route("/feed")), "token-invalid", 4402, /alg/);
});

test("JWT: a token that is not a JWT at all is token-invalid", async () => {
  const auth = await hsAuth();
  assertRefused(await auth.authenticate(bearer("garbage"), route("/feed")), "token-invalid", 4402);
  assertRefused(await auth.authenticate(bearer("a.b.c"), route("/feed")), "token-invalid", 4402);
});

test("JWT claims: no routes means no route (route-forbidden); read and publish default to everything", async () => {
  const auth = await hsAuth();
  assertRefused(await auth.authenticate(bearer(await hs256({ spwire: { read: ["a"] } })), route("/feed")), "route-forbidden", 4403);
  const id = assertOk(await auth.authenticate(bearer(await hs256({ spwire: { routes: ["/feed"] } })), route("/feed")));
  assert.deepEqual(id.rights, { routes: ["/feed"], read: [""], publish: [""] });
});

test("JWT claims: a route not in the claim is route-forbidden", async () => {
  const auth = await hsAuth();
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights)), route("/admin")), "route-forbidden", 4403);
  assertOk(await auth.authenticate(bearer(await hs256({ spwire: { routes: ["*"] } })), route("/admin")));
});

test('JWT claims: a token without the claim is route-forbidden ("token carries no spwire rights")', async () => {
  const auth = await hsAuth();
  assertRefused(await auth.authenticate(bearer(await hs256({ role: "admin" })), route("/feed")), "route-forbidden", 4403, /token carries no spwire rights/);
});

test("JWT claims: the claim name comes from the config", async () => {
  const auth = await hsAuth({ claim: "https://spwire.example/rights" });
  const t = await hs256({ "https://spwire.example/rights": { routes: ["/feed"] } });
  assertOk(await auth.authenticate(bearer(t), route("/feed")));
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights)), route("/feed")), "route-forbidden", 4403);
});

test("JWT claims: a claim of the wrong shape is token-invalid", async () => {
  const auth = await hsAuth();
  for (const claim of ["/feed", ["/feed"], null, { routes: "/feed" }, { routes: ["/feed"], read: [1] }, { routes: ["/feed"], publish: {} }]) {
    assertRefused(await auth.authenticate(bearer(await hs256({ spwire: claim })), route("/feed")), "token-invalid", 4402, /spwire/);
  }
});

test("static tokens are checked before JWTs", async () => {
  const auth = await hsAuth();
  assert.equal(assertOk(await auth.authenticate(bearer("s3cret-feed"), route("/feed"))).subject, "dashboard");
});

// ---------------------------------------------------------------------------
// RS256 / ES256 JWTs with a JWKS file
// ---------------------------------------------------------------------------

type KeyPair = { publicKey: CryptoKey; privateKey: CryptoKey };
let rsa: KeyPair, ec: KeyPair, stranger: KeyPair, jwksFile: string;
// In a hook, not top-level await: node 20's runner stops collecting tests at a top-level await.
before(async () => {
  rsa = await generateKeyPair("RS256");
  ec = await generateKeyPair("ES256");
  // Same algorithm, not in the set.
  stranger = await generateKeyPair("RS256");
  jwksFile = await writeJwks("jwks.json", [await publicJwk(rsa.publicKey, "RS256", "rsa-1"), await publicJwk(ec.publicKey, "ES256", "ec-1")]);
});

async function jwksAuth(over: Partial<JwtConfig> = {}) {
  return createAuthenticator(authConfig({ jwt: jwtConfig({ jwksFile, ...over }) }), undefined, () => T0);
}

test("RS256 JWT: verified against the JWKS", async () => {
  const auth = await jwksAuth();
  const id = assertOk(await auth.authenticate(bearer(await signWith(rsa.privateKey, "RS256", feedRights, "rsa-1", "svc-rsa")), route("/feed")));
  assert.equal(id.subject, "svc-rsa");
  assert.deepEqual(id.rights.read, ["prices."]);
});

test("ES256 JWT: verified against the JWKS", async () => {
  const auth = await jwksAuth();
  assert.equal(assertOk(await auth.authenticate(bearer(await signWith(ec.privateKey, "ES256", feedRights, "ec-1", "svc-ec")), route("/feed"))).subject, "svc-ec");
  // Without a kid the key is found by alg alone (one EC key in the set).
  assertOk(await auth.authenticate(bearer(await signWith(ec.privateKey, "ES256", feedRights)), route("/feed")));
});

test("JWKS: a token signed by a key not in the set is token-invalid", async () => {
  const auth = await jwksAuth();
  // Claiming a kid that is in the set: the signature fails.
  assertRefused(await auth.authenticate(bearer(await signWith(stranger.privateKey, "RS256", feedRights, "rsa-1")), route("/feed")), "token-invalid", 4402, /signature/);
  // An unknown kid: no key applies.
  assertRefused(await auth.authenticate(bearer(await signWith(stranger.privateKey, "RS256", feedRights, "rsa-9")), route("/feed")), "token-invalid", 4402, /no applicable key/);
});

test("JWKS: an algorithm not in `algorithms` is token-invalid even with a valid signature", async () => {
  const auth = await jwksAuth({ algorithms: ["RS256"] });
  assertOk(await auth.authenticate(bearer(await signWith(rsa.privateKey, "RS256", feedRights, "rsa-1")), route("/feed")));
  assertRefused(await auth.authenticate(bearer(await signWith(ec.privateKey, "ES256", feedRights, "ec-1")), route("/feed")), "token-invalid", 4402, /alg/);
});

test("JWKS: token-expired comes from `now`", async () => {
  const auth = await createAuthenticator(authConfig({ jwt: jwtConfig({ jwksFile }) }), undefined, () => T0 + 2 * 3600_000);
  assertRefused(await auth.authenticate(bearer(await signWith(rsa.privateKey, "RS256", feedRights, "rsa-1")), route("/feed")), "token-expired", 4440);
});

test("JWKS only: an HS256 token is token-invalid (no secret, and a public key is never used as one)", async () => {
  const auth = await jwksAuth();
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights)), route("/feed")), "token-invalid", 4402, /no secret/);
});

test("secret only: an RS256 token is token-invalid", async () => {
  const auth = await createAuthenticator(authConfig({ jwt: jwtConfig({ secret: SECRET }) }), undefined, () => T0);
  assertRefused(await auth.authenticate(bearer(await signWith(rsa.privateKey, "RS256", feedRights, "rsa-1")), route("/feed")), "token-invalid", 4402, /no JWKS/);
});

test("secret and JWKS: the token's alg picks the key", async () => {
  const auth = await jwksAuth({ secret: SECRET });
  assert.equal(assertOk(await auth.authenticate(bearer(await hs256(feedRights, { sub: "hs" })), route("/feed"))).subject, "hs");
  assert.equal(assertOk(await auth.authenticate(bearer(await signWith(rsa.privateKey, "RS256", feedRights, "rsa-1", "rs")), route("/feed"))).subject, "rs");
  assertRefused(await auth.authenticate(bearer(await hs256(feedRights, { secret: "wrong-secret-wrong-secret-wrong-secret" })), route("/feed")), "token-invalid", 4402);
});

test("JWKS: several keys fit a token without kid (rotation); the one that verifies is used", async () => {
  const next = await generateKeyPair("RS256");
  const file = await writeJwks("rotation.json", [await publicJwk(rsa.publicKey, "RS256"), await publicJwk(next.publicKey, "RS256")]);
  const auth = await createAuthenticator(authConfig({ jwt: jwtConfig({ jwksFile: file }) }), undefined, () => T0);
  assert.equal(assertOk(await auth.authenticate(bearer(await signWith(next.privateKey, "RS256", feedRights, undefined, "next")), route("/feed"))).subject, "next");
  assert.equal(assertOk(await auth.authenticate(bearer(await signWith(rsa.privateKey, "RS256", feedRights, undefined, "old")), route("/feed"))).subject, "old");
  assertRefused(await auth.authenticate(bearer(await signWith(stranger.privateKey, "RS256", feedRights)), route("/feed")), "token-invalid", 4402, /signature/);
});

test("createAuthenticator rejects a JWKS file that is missing, not JSON, not a key set, empty or holding a private key", async () => {
  const reject = (file: string, msg: RegExp) => assert.rejects(createAuthenticator(authConfig({ jwt: jwtConfig({ jwksFile: file }) })), msg);
  await reject(join(await tmp(), "missing.json"), /jwksFile .*missing\.json: cannot read it/);
  await reject(await writeJwks("bad.json", "{ not json"), /bad\.json: not JSON/);
  await reject(await writeJwks("nokeys.json", { issuer: "x" }), /nokeys\.json: not a JSON Web Key Set/);
  await reject(await writeJwks("empty.json", []), /empty\.json: the key set has no keys/);
  const priv = await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey);
  await reject(await writeJwks("private.json", [{ ...priv, alg: "ES256", kid: "oops" }]), /private\.json: key 0 \(kid "oops"\) is a private or secret key/);
});

test("createAuthenticator rejects JWT config with neither a secret nor a JWKS file", async () => {
  await assert.rejects(createAuthenticator(authConfig({ jwt: jwtConfig() })), /needs a secret .* or a jwksFile/);
});

// ---------------------------------------------------------------------------
// The hook
// ---------------------------------------------------------------------------

test("hook: an Identity it returns is accepted, and it is given the route and the token", async () => {
  const seen: { path: string; token: string | undefined }[] = [];
  const auth = await createAuthenticator(authConfig({ tokens }), (_req, ctx) => {
    seen.push({ path: ctx.route.path, token: ctx.token });
    return { subject: "hooked", rights: { routes: ["/feed"], read: ["x"], publish: [] } };
  });
  const id = assertOk(await auth.authenticate(req({ cookie: "spwire_token=tok" }), route("/feed")));
  assert.equal(id.subject, "hooked");
  assert.deepEqual(id.rights, { routes: ["/feed"], read: ["x"], publish: [] });
  assert.deepEqual(seen, [{ path: "/feed", token: "tok" }]);
});

test("hook: replaces the token checks (no token needed, static tokens ignored)", async () => {
  const auth = await createAuthenticator(authConfig({ tokens }), async () => ({ subject: "h", rights: ALL_RIGHTS }));
  assertOk(await auth.authenticate(req(), route("/feed")));
  const refusing = await createAuthenticator(authConfig({ tokens }), () => ({ reason: "token-invalid", message: "not in our directory" }));
  assertRefused(await refusing.authenticate(bearer("s3cret-feed"), route("/feed")), "token-invalid", 4402);
});

test("hook: an Identity without the route is route-forbidden", async () => {
  const auth = await createAuthenticator(authConfig(), () => ({ subject: "h", rights: { routes: ["/other"], read: [""], publish: [""] } }));
  assertRefused(await auth.authenticate(req(), route("/feed")), "route-forbidden", 4403);
});

test("hook: a refusal it returns is passed on with its message", async () => {
  const auth = await createAuthenticator(authConfig(), async () => ({ reason: "token-expired" as const, message: "session over" }));
  assertRefused(await auth.authenticate(req(), route()), "token-expired", 4440, /^session over$/);
});

test("hook: a throw or a rejection is auth-error, with the error's message", async () => {
  const throwing = await createAuthenticator(authConfig(), () => {
    throw new Error("directory down");
  });
  assertRefused(await throwing.authenticate(req(), route()), "auth-error", 1011, /directory down/);
  const rejecting = await createAuthenticator(authConfig(), () => Promise.reject(new Error("timeout talking to idp")));
  assertRefused(await rejecting.authenticate(req(), route()), "auth-error", 1011, /timeout talking to idp/);
});

test("hook: a malformed result or an unknown refusal reason is auth-error", async () => {
  const bad = await createAuthenticator(authConfig(), () => ({ subject: "h" }) as never);
  assertRefused(await bad.authenticate(req(), route()), "auth-error", 1011, /neither an Identity/);
  const nothing = await createAuthenticator(authConfig(), () => undefined as never);
  assertRefused(await nothing.authenticate(req(), route()), "auth-error", 1011);
  const unknown = await createAuthenticator(authConfig(), () => ({ reason: "nope", message: "x" }) as never);
  assertRefused(await unknown.authenticate(req(), route()), "auth-error", 1011, /unknown refusal reason "nope"/);
});

// ---------------------------------------------------------------------------
// Never throws
// ---------------------------------------------------------------------------

test("authenticate never rejects: an internal failure is auth-error", async () => {
  const auth = await createAuthenticator(authConfig({ tokens }), undefined, () => {
    throw new Error("clock broken");
  });
  assertRefused(await auth.authenticate(bearer("s3cret-old"), route()), "auth-error", 1011, /clock broken/);
});
