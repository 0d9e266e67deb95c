/**
 * Browser e2e support: the system's Chromium (Debian's chromium package,
 * /usr/bin/chromium; a browser is never downloaded) driven by playwright-core,
 * and a tiny static server on 127.0.0.1 that serves the built ESM of
 * packages/core/dist at /core/, so a page imports the library exactly as a
 * browser application would, with the browser's own WebSocket.
 *
 *   const h = await startBrowserHarness();
 *   after(() => h.close());
 *   const text = await h.run(async (core, { url }) => {
 *     const req = new core.Req();
 *     req.dial(url);
 *     try { return (await req.request("hello", { timeout: 5000 })).text(); }
 *     finally { await req.close(); }
 *   }, { url });
 *
 * Functions given to `run` execute inside the page: they see only their
 * arguments (JSON-like values, no closures over test variables), and `core`
 * is the module loaded from /core/index.js.
 *
 * More pages, each in a browser context of its own (several independent
 * "users"), come from `openCorePage(browser, server)`, given a Chromium from
 * `launchChromium()` and a server from `serveStatic()` (call `ensureCoreBuilt()`
 * first); each has the same `run`.
 *
 * Test-only; never imported by package code.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** What `/core/index.js` exports in the page: the same module the dist was built from. */
export type CoreModule = typeof import("@spwire/core");

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const coreDist = join(repoRoot, "packages", "core", "dist");
const coreSrc = join(repoRoot, "packages", "core", "src");
const coreBuildInfo = join(repoRoot, "packages", "core", "tsconfig.tsbuildinfo");

/** Debian's chromium; scripts/system-deps.mjs installs it. */
export const CHROMIUM = "/usr/bin/chromium";

/** Headless, as root (no sandbox), and nothing that reaches outside 127.0.0.1. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Build packages/core when its dist is missing or older than its sources
 * (`tsc -b packages/core`, the same build `npm run build` does). `npm test`
 * builds first, so this matters when one test file is run by hand.
 */
export function ensureCoreBuilt(): void {
  const index = join(coreDist, "index.js");
  // tsc -b leaves unchanged outputs alone but always rewrites the build info, so that marks the last build too.
  const built = Math.max(newest(coreDist), existsSync(coreBuildInfo) ? statSync(coreBuildInfo).mtimeMs : 0);
  if (existsSync(index) && newest(coreSrc) <= built) return;
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "-b", "packages/core"], { cwd: repoRoot, encoding: "utf8" });
  if (r.status !== 0 || !existsSync(index)) {
    const how = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    throw new Error(`building packages/core for the browser failed (tsc -b packages/core: ${how}):\n${r.stdout}${r.stderr}`);
  }
}

/** Latest modification time of any file under `dir` (0 when there is none). */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Start the system Chromium, headless. Throws a message that says how to install it when it is absent. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the browser tests need Debian's chromium package ` +
        `(node scripts/system-deps.mjs installs it, or: apt-get install -y --no-install-recommends chromium)`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS], headless: true, timeout: 60_000 });
}

export interface StaticServer {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** Paths requested so far, with their status, e.g. "200 /core/index.js" (for failure messages). */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
};

/** The page every test opens: it loads core once and records whether that worked. */
const INDEX_HTML = `<!doctype html>
<meta charset="utf-8">
<title>spwire e2e</title>
<link rel="icon" href="data:,">
<script>
  globalThis.coreReady = import("/core/index.js").then(
    (m) => { globalThis.core = m; return ""; },
    (e) => String((e && e.stack) || e),
  );
</script>
`;

/**
 * Serve `/` (a blank page that imports core) and each `mounts` prefix from a
 * directory, on 127.0.0.1 at a free port. GET and HEAD only; nothing outside
 * a mounted directory is reachable; no caching, so a rebuilt dist is seen.
 */
export async function serveStatic(mounts: Record<string, string> = { "/core/": coreDist }): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const send = (status: number, type: string, body: string | Buffer): void => {
      requests.push(`${status} ${req.url}`);
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "GET or HEAD only\n");
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (path === "/" || path === "/index.html") return send(200, TYPES[".html"]!, INDEX_HTML);
    const mount = Object.keys(mounts).find((m) => path.startsWith(m));
    if (mount === undefined) return send(404, "text/plain", "not found\n");
    const dir = resolve(mounts[mount]!);
    const file = resolve(dir, "." + path.slice(mount.length - 1));
    if (!file.startsWith(dir + sep)) return send(403, "text/plain", "outside the mounted directory\n");
    readFile(file).then(
      (body) => send(200, TYPES[extname(file)] ?? "application/octet-stream", body),
      (err: NodeJS.ErrnoException) =>
        err.code === "ENOENT" || err.code === "EISDIR" ? send(404, "text/plain", "not found\n") : send(500, "text/plain", `${err.message}\n`),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok());
  });
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("static server has no TCP address");
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    requests,
    close: () =>
      new Promise<void>((ok, fail) => {
        server.closeAllConnections();
        server.close((err) => (err ? fail(err) : ok()));
      }),
  };
}

/** One page that has imported `/core/index.js`, in a browser context of its own (its own cookies and storage). */
export interface CorePage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console lines and page errors seen so far, e.g. "warning: dial ... failed" (for failure messages). */
  readonly logs: readonly string[];
  /**
   * Run `fn(core, arg)` in the page and return its (serialisable) result. A
   * rejection is rethrown here with the page's console lines attached.
   */
  run<A, R>(fn: (core: CoreModule, arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Close the page's context (its WebSockets with it). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Open a page in a new context of `browser`, load `server`'s index (which
 * imports `/core/index.js`) and wait for the import. Throws, with the page's
 * errors, if the import fails. Several of these in one browser are several
 * independent browser tabs, as far as a server can tell.
 */
export async function openCorePage(browser: Browser, server: StaticServer): Promise<CorePage> {
  const logs: string[] = [];
  const context = await browser.newContext();
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await context.close();
  };
  try {
    // tsx (esbuild keepNames) wraps named functions in test code with
    // __name(fn, "name"); functions sent to the page carry those calls.
    await context.addInitScript({ content: "globalThis.__name = (fn) => fn;" });
    const page = await context.newPage();
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.stack ?? e.message}`));
    await page.goto(`${server.origin}/`);
    const loadError = await page.evaluate(() => (globalThis as unknown as { coreReady: Promise<string> }).coreReady);
    if (loadError !== "") {
      throw new Error(`the page could not import /core/index.js: ${loadError}\nrequests: ${server.requests.join(", ")}`);
    }
    const run = async <A, R>(fn: (core: CoreModule, arg: A) => R | Promise<R>, arg: A): Promise<R> => {
      try {
        return (await page.evaluate(
          ([src, a]) => {
            const g = globalThis as unknown as { core: unknown };
            // `src` is a function's own source text, made in this test process.
            const f = (0, eval)(`(${src})`) as (core: unknown, arg: unknown) => unknown;
            return f(g.core, a);
          },
          [fn.toString(), arg] as const,
        )) as R;
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`${msg}\n--- page console ---\n${logs.join("\n") || "(empty)"}`, { cause: err });
      }
    };
    return { context, page, logs, run, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface BrowserHarness extends CorePage {
  readonly browser: Browser;
  readonly server: StaticServer;
  /** Close the page's browser and the static server. Safe to call twice. */
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** More directories to serve, by URL prefix ending in "/" (e.g. a bundle at "/bundle/"). "/core/" may be replaced too. */
  mounts?: Record<string, string>;
}

/**
 * Build core if needed, serve it, start Chromium and open a page that has
 * imported `/core/index.js`. Throws, with the page's errors, if the import
 * fails.
 */
export async function startBrowserHarness(opts: HarnessOptions = {}): Promise<BrowserHarness> {
  const mounts = { "/core/": coreDist, ...opts.mounts };
  if (mounts["/core/"] === coreDist) ensureCoreBuilt();
  const server = await serveStatic(mounts);
  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (err) {
    await server.close();
    throw err;
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      await browser.close();
    } finally {
      await server.close();
    }
  };
  try {
    const p = await openCorePage(browser, server);
    return { browser, server, context: p.context, page: p.page, logs: p.logs, run: p.run, close };
  } catch (err) {
    await close();
    throw err;
  }
}
