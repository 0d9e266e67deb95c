/**
 * The gateway's plain-HTTP endpoints, served by a real node:http server on
 * 127.0.0.1 and requested with fetch (and raw http.request where fetch would
 * normalise the path away).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { GatewayMetrics } from "../src/metrics.js";
import { createHttpHandler, type HttpDeps, type ReadyInfo, type RouteInfo } from "../src/http.js";

// A static root inside a directory holding files that must never be served.
const top = mkdtempSync(join(tmpdir(), "spwire-http-"));
const pub = join(top, "public");
const SECRET = "TOP-SECRET-DO-NOT-SERVE";
const INDEX = "<!doctype html><title>spwire</title>";
const APP = "console.log('app');";
const HASHED = "export const x = 1;";
mkdirSync(join(pub, "assets"), { recursive: true });
writeFileSync(join(top, "secret.txt"), SECRET);
writeFileSync(join(top, "package.json"), JSON.stringify({ name: SECRET }));
writeFileSync(join(pub, "index.html"), INDEX);
writeFileSync(join(pub, "app.js"), APP);
writeFileSync(join(pub, "style.css"), "body{}");
writeFileSync(join(pub, "assets", "index-B2x3_9aZ.js"), HASHED);
writeFileSync(join(pub, ".env"), SECRET);
after(() => rmSync(top, { recursive: true, force: true }));

const ROUTE: RouteInfo = {
  path: "/feed",
  protocol: "sub",
  subprotocol: "pub.sp.nanomsg.org",
  mode: "shared",
  filtering: true,
  auth: true,
  maxMessageSize: 65536,
  policy: "drop-new",
};

interface Harness {
  url: string;
  port: number;
  warns: Array<{ obj: object; msg: string }>;
  metrics: GatewayMetrics;
  state: { ready: boolean; draining: boolean };
  close(): Promise<void>;
}

async function start(over: Partial<HttpDeps> = {}): Promise<Harness> {
  const warns: Harness["warns"] = [];
  const metrics = over.metrics ?? new GatewayMetrics({ processMetrics: false });
  const state = { ready: true, draining: false };
  const handler = createHttpHandler({
    metrics,
    routes: () => [ROUTE],
    ready: (): ReadyInfo => ({ ready: state.ready, routes: [{ path: "/feed", upstreamMode: "dial", pipes: 1, up: state.ready }] }),
    draining: () => state.draining,
    log: { warn: (obj, msg) => warns.push({ obj, msg }), debug: () => undefined },
    ...over,
  });
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    warns,
    metrics,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A request with the path sent exactly as given (fetch would resolve "..", and encode some bytes). */
function raw(port: number, path: string, method = "GET"): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

test("GET /healthz answers 200 {\"status\":\"ok\"} as uncacheable JSON with nosniff", async () => {
  const h = await start();
  const res = await fetch(`${h.url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '{"status":"ok"}');
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  await h.close();
});

test("a query string does not change the endpoint", async () => {
  const h = await start();
  const res = await fetch(`${h.url}/healthz?probe=1`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '{"status":"ok"}');
  await h.close();
});

test("HEAD /healthz has GET's status and length and no body", async () => {
  const h = await start();
  const res = await fetch(`${h.url}/healthz`, { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String('{"status":"ok"}'.length));
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(await res.text(), "");
  await h.close();
});

test("GET /readyz answers 200 with the ready info when ready", async () => {
  const h = await start();
  const res = await fetch(`${h.url}/readyz`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), {
    ready: true,
    draining: false,
    routes: [{ path: "/feed", upstreamMode: "dial", pipes: 1, up: true }],
  });
  await h.close();
});

test("GET /readyz answers 503 with the same JSON when a route is not ready", async () => {
  const h = await start();
  h.state.ready = false;
  const res = await fetch(`${h.url}/readyz`);
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), {
    ready: false,
    draining: false,
    routes: [{ path: "/feed", upstreamMode: "dial", pipes: 1, up: false }],
  });
  await h.close();
});

test("GET /readyz answers 503 while draining, even with every route up", async () => {
  const h = await start();
  h.state.draining = true;
  const res = await fetch(`${h.url}/readyz`);
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), {
    ready: false,
    draining: true,
    routes: [{ path: "/feed", upstreamMode: "dial", pipes: 1, up: true }],
  });
  // /healthz still says the process serves.
  assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
  await h.close();
});

test("GET /metrics serves the registry's text with its content type", async () => {
  const h = await start();
  h.metrics.messages("/feed", "down", 3, 30);
  const res = await fetch(`${h.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), h.metrics.contentType);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  const body = await res.text();
  assert.ok(body.split("\n").includes('spwire_gateway_messages_total{route="/feed",direction="down"} 3'), body);
  assert.ok(body.includes("# TYPE spwire_gateway_connections gauge\n"));
  await h.close();
});

test("HEAD /metrics sends no body", async () => {
  const h = await start();
  const res = await fetch(`${h.url}/metrics`, { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), h.metrics.contentType);
  assert.equal(await res.text(), "");
  await h.close();
});

test("a metrics render that fails answers 500 with a log line, and the server keeps serving", async () => {
  const metrics = new GatewayMetrics({ processMetrics: false });
  metrics.setSources({
    queues: () => {
      throw new Error("queues broke");
    },
    upstreams: () => [],
  });
  const h = await start({ metrics });
  const res = await fetch(`${h.url}/metrics`);
  assert.equal(res.status, 500);
  assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(await res.text(), "internal error");
  assert.equal(h.warns.length, 1);
  assert.equal(h.warns[0]!.msg, "http: request failed");
  assert.match(String((h.warns[0]!.obj as { err: Error }).err), /queues broke/);
  assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
  await h.close();
});

test("a ready() that throws answers 500 with a log line", async () => {
  const h = await start({
    ready: () => {
      throw new Error("ready broke");
    },
  });
  const res = await fetch(`${h.url}/readyz`);
  assert.equal(res.status, 500);
  assert.equal(await res.text(), "internal error");
  assert.equal(h.warns.length, 1);
  await h.close();
});

test("GET /routes lists exactly the documented fields, never an upstream address or token", async () => {
  // A caller handing over richer objects than RouteInfo must not leak them.
  const leaky = { ...ROUTE, upstream: "tcp://10.1.2.3:5555", token: "s3cr3t-token", upstreamTls: { key: "PRIVATE KEY" } };
  const h = await start({ routes: () => [leaky as RouteInfo] });
  const res = await fetch(`${h.url}/routes`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.text();
  assert.deepEqual(JSON.parse(body), { routes: [ROUTE] });
  for (const secret of ["tcp://", "10.1.2.3", "s3cr3t-token", "PRIVATE KEY", "upstream"]) {
    assert.equal(body.includes(secret), false, `/routes leaks ${secret}`);
  }
  await h.close();
});

for (const [method, path] of [
  ["POST", "/healthz"],
  ["PUT", "/readyz"],
  ["DELETE", "/metrics"],
  ["PATCH", "/routes"],
  ["OPTIONS", "/routes"],
] as const) {
  test(`${method} ${path} answers 405 with Allow: GET, HEAD`, async () => {
    const h = await start();
    const res = await fetch(`${h.url}${path}`, { method });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(await res.text(), "method not allowed");
    await h.close();
  });
}

test("without staticDir every other path is 404 text/plain \"not found\", for any method", async () => {
  const h = await start();
  for (const [method, path] of [
    ["GET", "/"],
    ["GET", "/index.html"],
    ["GET", "/healthz/"],
    ["POST", "/upload"],
  ]) {
    const res = await fetch(`${h.url}${path}`, { method });
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(await res.text(), "not found");
  }
  await h.close();
});

test("static: / serves index.html as HTML, revalidated every time, with an ETag", async () => {
  const h = await start({ staticDir: pub });
  const res = await fetch(`${h.url}/`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), INDEX);
  assert.equal(res.headers.get("content-type"), "text/html;charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.match(res.headers.get("etag") ?? "", /^W\/"\d+-\d+"$/);
  await h.close();
});

test("static: files get their content types; a hashed asset may be cached for good, a plain one revalidates", async () => {
  const h = await start({ staticDir: pub });
  const app = await fetch(`${h.url}/app.js`);
  assert.equal(app.status, 200);
  assert.equal(await app.text(), APP);
  assert.equal(app.headers.get("content-type"), "text/javascript");
  assert.equal(app.headers.get("cache-control"), "no-cache");
  const css = await fetch(`${h.url}/style.css`);
  assert.equal(css.headers.get("content-type"), "text/css");
  await css.text();
  const hashed = await fetch(`${h.url}/assets/index-B2x3_9aZ.js`);
  assert.equal(hashed.status, 200);
  assert.equal(await hashed.text(), HASHED);
  assert.equal(hashed.headers.get("cache-control"), "public, max-age=31536000, immutable");
  await h.close();
});

test("static: a matching If-None-Match answers 304 without a body", async () => {
  const h = await start({ staticDir: pub });
  const first = await fetch(`${h.url}/app.js`);
  await first.text();
  const etag = first.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(`${h.url}/app.js`, { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
  await h.close();
});

test("static: HEAD sends the file's headers and no body", async () => {
  const h = await start({ staticDir: pub });
  const res = await fetch(`${h.url}/app.js`, { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(APP.length));
  assert.equal(await res.text(), "");
  await h.close();
});

test("static: a missing file, a dotfile and a directory without index are 404 \"not found\"", async () => {
  const h = await start({ staticDir: pub });
  for (const path of ["/missing.js", "/.env", "/assets/", "/assets"]) {
    const res = await fetch(`${h.url}${path}`);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.text();
    assert.equal(body, "not found");
  }
  await h.close();
});

test("static: path traversal attempts are 404 and never return a file from outside", async () => {
  const h = await start({ staticDir: pub });
  for (const path of [
    "/../secret.txt",
    "/../package.json",
    "/../../../../etc/passwd",
    "/assets/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/package.json",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/..%5csecret.txt",
    "/..\\secret.txt",
    "//../secret.txt",
    "/%252e%252e/secret.txt",
    "/.%2e/secret.txt",
    "/%2e%2e/public/index.html",
    "/%00../secret.txt",
  ]) {
    const res = await raw(h.port, path);
    assert.equal(res.status, 404, path);
    assert.equal(res.body, "not found", path);
    assert.equal(res.body.includes(SECRET), false, path);
  }
  // And the fixture is sound: the secret is really one level up.
  assert.ok((await raw(h.port, "/index.html")).body === INDEX);
  await h.close();
});

test("static: endpoints win over files, and other methods answer 405", async () => {
  const h = await start({ staticDir: pub });
  assert.equal(await (await fetch(`${h.url}/healthz`)).text(), '{"status":"ok"}');
  const res = await fetch(`${h.url}/index.html`, { method: "POST", body: "x" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET, HEAD");
  assert.equal(await res.text(), "method not allowed");
  await h.close();
});

test("static: a byte range is served 206; a reversed range is ignored and the whole file served", async () => {
  const h = await start({ staticDir: pub });
  const part = await fetch(`${h.url}/app.js`, { headers: { range: "bytes=0-6" } });
  assert.equal(part.status, 206);
  assert.equal(await part.text(), APP.slice(0, 7));
  assert.equal(part.headers.get("content-range"), `bytes 0-6/${APP.length}`);
  for (const range of ["bytes=5-2", "bytes=-4", "bytes=0-1,3-4", "items=0-1"]) {
    const res = await fetch(`${h.url}/app.js`, { headers: { range } });
    assert.equal(res.status, 200, range);
    assert.equal(await res.text(), APP, range);
  }
  assert.equal(h.warns.length, 0);
  await h.close();
});

test("static: a file removed after start cuts that response, logs, and the server keeps serving", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spwire-http-gone-"));
  writeFileSync(join(dir, "gone.txt"), "soon gone");
  const h = await start({ staticDir: dir });
  rmSync(join(dir, "gone.txt"));
  await assert.rejects(async () => {
    const res = await fetch(`${h.url}/gone.txt`);
    await res.text();
  });
  assert.equal(h.warns.length, 1);
  assert.equal((h.warns[0]!.obj as { err: NodeJS.ErrnoException }).err.code, "ENOENT");
  assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a staticDir that is not a directory throws at creation with the path in the message", () => {
  const deps = {
    metrics: new GatewayMetrics({ processMetrics: false }),
    routes: () => [],
    ready: () => ({ ready: true, routes: [] }),
    draining: () => false,
    log: { warn: () => undefined, debug: () => undefined },
  };
  assert.throws(() => createHttpHandler({ ...deps, staticDir: join(top, "secret.txt") }), {
    message: `staticDir ${JSON.stringify(join(top, "secret.txt"))}: not a directory`,
  });
  assert.throws(() => createHttpHandler({ ...deps, staticDir: join(top, "nope") }), /^Error: staticDir ".*nope": ENOENT/);
});
