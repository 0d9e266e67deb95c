/**
 * The gateway's plain-HTTP side: every request that is not a WebSocket
 * upgrade. Four fixed endpoints for operators and clients (/healthz, /readyz,
 * /metrics, /routes) and, when configured, a directory of static files for
 * the browser app. Upgrades never reach this handler; server.ts takes them.
 *
 * Contract: the handler never throws and never leaves a request hanging. A
 * failure (a source that throws, a render that rejects, a file that vanished)
 * is logged and answered 500, or the response is cut off if it had started.
 */
import { statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { resolve } from "node:path";
import sirv from "sirv";
import type { GatewayMetrics } from "./metrics.js";

/** One route as clients may see it: what to open and how it behaves. Never an upstream address or a secret. */
export interface RouteInfo {
  path: string;
  /** The browser's protocol. */
  protocol: string;
  /** The WebSocket subprotocol to offer. */
  subprotocol: string;
  mode: "shared" | "per-connection";
  /** The gateway filters messages by subscription and read rights on this route. */
  filtering: boolean;
  /** A token is required. */
  auth: boolean;
  maxMessageSize: number;
  /** The slow-consumer policy. */
  policy: string;
}

export interface ReadyInfo {
  ready: boolean;
  routes: Array<{ path: string; upstreamMode: "dial" | "listen"; pipes: number; up: boolean }>;
}

export interface HttpDeps {
  metrics: GatewayMetrics;
  routes(): RouteInfo[];
  ready(): ReadyInfo;
  /** Directory of static files; read once, when the handler is created. */
  staticDir?: string;
  /** Set while shutting down: /readyz answers 503. */
  draining(): boolean;
  /** pino-like */
  log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const ALLOW = "GET, HEAD";

/**
 * A content-hashed file name, safe to cache for good: a last segment like
 * `index-B2x3_9aZ.js` (Vite, esbuild) or `main.3f9a2c1d.css` (webpack) — 8 or
 * more name characters holding a digit, after a "-" or ".", before the
 * extension. A hash without any digit is not recognised and merely
 * revalidates; a plain name must never be cached for a year.
 */
const HASHED = /[.-](?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$/;

/** Cache-Control for a static file, by request path: hashed assets for a year, everything else (index.html included) revalidated each time. */
function staticCacheControl(pathname: string): string {
  return HASHED.test(pathname) ? "public, max-age=31536000, immutable" : "no-cache";
}

/**
 * The one Range form sirv 3 serves correctly: `bytes=<start>-[<end>]` with
 * start <= end. It mishandles suffix ranges (`bytes=-500` serves the first
 * 501 bytes) and multiple ranges, and a reversed range makes its read stream
 * throw after the 206 head is written. Any other Range is ignored, which
 * HTTP allows (the client gets the whole file, 200).
 */
function usableRange(range: string): boolean {
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(range);
  return m !== null && (m[2] === "" || Number(m[1]) <= Number(m[2]));
}

/**
 * The handler for the gateway's non-upgrade requests.
 *
 * - `GET /healthz` → 200 `{"status":"ok"}` while the process serves.
 * - `GET /readyz` → 200 when every route is ready and the gateway is not
 *   draining, else 503; the body is `{ ready, draining, routes }` either way.
 * - `GET /metrics` → Prometheus text.
 * - `GET /routes` → `{ routes: RouteInfo[] }`, for clients to discover routes.
 * - anything else: a static file from `staticDir` (`/` is `index.html`), else 404.
 *
 * HEAD works wherever GET does. Other methods get 405 with `Allow` (on every
 * path when `staticDir` is set; without it, paths other than the four
 * endpoints are 404 for any method).
 *
 * Throws (at creation) if `staticDir` is set but is not a readable directory.
 *
 * @example
 * const server = http.createServer(createHttpHandler({ metrics, routes, ready, draining: () => false, log }));
 */
export function createHttpHandler(deps: HttpDeps): Handler {
  const { log, metrics } = deps;
  const files = deps.staticDir === undefined ? undefined : staticFiles(deps.staticDir);

  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    log.warn({ err, method: req.method, url: req.url }, "http: request failed");
    if (!res.headersSent) {
      // Drop whatever the failed attempt had set (a Content-Type, a Cache-Control) before answering.
      for (const name of res.getHeaderNames()) if (name !== "x-content-type-options") res.removeHeader(name);
      text(req, res, 500, "internal error");
    } else {
      // The head (and maybe part of the body) is out: the only honest end is to cut the response.
      res.destroy();
    }
  };

  const endpoints: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    "/healthz": (req, res) => json(req, res, 200, { status: "ok" }),
    "/readyz": (req, res) => {
      const info = deps.ready();
      const draining = deps.draining();
      const ready = info.ready && !draining;
      // Only the documented fields: a caller passing richer route objects must not leak more here.
      const routes = info.routes.map((r) => ({ path: r.path, upstreamMode: r.upstreamMode, pipes: r.pipes, up: r.up }));
      json(req, res, ready ? 200 : 503, { ready, draining, routes });
    },
    "/routes": (req, res) => {
      // Copied field by field: discovery must never carry an upstream address, a token or any other config.
      const routes: RouteInfo[] = deps.routes().map((r) => ({
        path: r.path,
        protocol: r.protocol,
        subprotocol: r.subprotocol,
        mode: r.mode,
        filtering: r.filtering,
        auth: r.auth,
        maxMessageSize: r.maxMessageSize,
        policy: r.policy,
      }));
      json(req, res, 200, { routes });
    },
    "/metrics": (req, res) => {
      metrics.render().then(
        (body) => {
          if (res.destroyed) return;
          res.setHeader("Cache-Control", "no-store");
          send(req, res, 200, metrics.contentType, body);
        },
        (err: unknown) => fail(req, res, err),
      );
    },
  };

  return (req, res) => {
    try {
      res.setHeader("X-Content-Type-Options", "nosniff");
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const pathname = q === -1 ? url : url.slice(0, q);
      const method = req.method ?? "GET";
      const getLike = method === "GET" || method === "HEAD";

      const endpoint = Object.hasOwn(endpoints, pathname) ? endpoints[pathname] : undefined;
      if (endpoint !== undefined) {
        if (getLike) endpoint(req, res);
        else methodNotAllowed(req, res);
        return;
      }
      if (files === undefined) {
        notFound(req, res);
        return;
      }
      if (!getLike) {
        methodNotAllowed(req, res);
        return;
      }
      files(req, res, pathname, () => notFound(req, res), (err) => fail(req, res, err));
    } catch (err) {
      fail(req, res, err);
    }
  };
}

/**
 * sirv in production mode: the directory is listed once, now, and only files
 * in that list are ever served (a request path is looked up in it, never
 * joined onto the directory), so `..` and encoded variants cannot escape.
 * Dotfiles are not served. Files added later are not seen until a restart.
 */
function staticFiles(
  dir: string,
): (req: IncomingMessage, res: ServerResponse, pathname: string, notFound: () => void, fail: (err: unknown) => void) => void {
  const root = resolve(dir);
  let isDir: boolean;
  try {
    isDir = statSync(root).isDirectory();
  } catch (err) {
    throw new Error(`staticDir ${JSON.stringify(dir)}: ${(err as Error).message}`, { cause: err });
  }
  if (!isDir) throw new Error(`staticDir ${JSON.stringify(dir)}: not a directory`);
  const serve = sirv(root, { dev: false, etag: true, dotfiles: false, single: false, gzip: false, brotli: false });

  return (req, res, pathname, notFound, fail) => {
    const range = req.headers.range;
    if (range !== undefined && !usableRange(range)) delete req.headers.range;
    // Set before sirv so a 304 carries it too; notFound() replaces it.
    res.setHeader("Cache-Control", staticCacheControl(pathname));
    // sirv pipes a read stream into res without an error listener: a file removed since
    // the listing would otherwise be an uncaught 'error' that ends the process.
    res.once("pipe", (src: NodeJS.ReadableStream) => {
      src.once("error", fail);
    });
    serve(req, res, notFound);
  };
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void {
  const buf = Buffer.from(body, "utf8");
  res.statusCode = status;
  res.setHeader("Content-Type", contentType);
  res.setHeader("Content-Length", buf.length);
  // HEAD: the same head as GET, no body.
  if (req.method === "HEAD") res.end();
  else res.end(buf);
}

function json(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  res.setHeader("Cache-Control", "no-store");
  send(req, res, status, "application/json; charset=utf-8", JSON.stringify(value));
}

function text(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  res.setHeader("Cache-Control", "no-store");
  send(req, res, status, "text/plain; charset=utf-8", body);
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  text(req, res, 404, "not found");
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader("Allow", ALLOW);
  text(req, res, 405, "method not allowed");
}
