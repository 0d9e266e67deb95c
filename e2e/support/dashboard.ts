/**
 * Support for the example pages' e2e tests (e2e/dashboard*.test.ts): the
 * built Vite app in examples/dashboard/dist, `npm start` as a child process,
 * and Chromium pages that open the dashboard or the rpc page from a gateway
 * and read back what they show.
 *
 *   ensureDashboardBuilt();                       // before any gateway serves dist/
 *   const d = await openExamplePage(browser, `${base}`);
 *   await d.until((v) => v.received >= 50, "50 messages");
 *   d.badges();                                    // ["connecting", "connected", ...]
 *   await d.screenshot("dashboard-feed");          // test-results/screenshots/dashboard-feed.png
 *
 * What a page shows is read from the page itself: `window.__dashboard` (the
 * dashboard's live counters), `window.__rpc` (the rpc page's tallies), and the
 * badge's `data-state` as it changed, recorded by a MutationObserver installed
 * before the page's own script runs.
 *
 * Test-only; never imported by package code.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, type TestContext } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { metricIn } from "../../test-support/gateway-proc.js";
import { until } from "../../test-support/peers.js";
import { launchChromium, repoRoot } from "./browser.js";

const app = join(repoRoot, "examples", "dashboard");
/** What the gateway serves in these tests, as `npm start` does. */
export const dashboardDist = join(app, "dist");
/** Where the run's screenshots go (test-results/ is gitignored). */
export const screenshotDir = join(repoRoot, "test-results", "screenshots");

/** The size the pages are laid out for (see examples/dashboard/src/style.css) and shot at. */
export const VIEWPORT = { width: 1200, height: 800 } as const;

/**
 * Build examples/dashboard into dist/ when dist/ is missing or older than its
 * sources: the same check and the same build scripts/start.mjs makes
 * (examples/dashboard/vite.config.ts; built beside, then swapped in, so a
 * gateway started meanwhile by another test file never serves half of it).
 */
export function ensureDashboardBuilt(): void {
  const built = Math.min(mtime(join(dashboardDist, "index.html")), mtime(join(dashboardDist, "rpc.html")));
  const sources = [
    ...files(app, (p) => p !== dashboardDist),
    ...files(join(repoRoot, "examples", "rpc")),
    ...files(join(repoRoot, "packages", "core", "src")),
    join(repoRoot, "package-lock.json"),
  ];
  if (built >= Math.max(...sources.map(mtime))) return;
  const cache = join(repoRoot, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  const tmp = join(cache, `spwire-dashboard-e2e-${process.pid}`);
  try {
    const vite = join(repoRoot, "node_modules", "vite", "bin", "vite.js");
    const r = spawnSync(process.execPath, [vite, "build", app, "--outDir", tmp, "--emptyOutDir", "--logLevel", "warn"], {
      cwd: repoRoot,
      encoding: "utf8",
    });
    if (r.status !== 0 || !existsSync(join(tmp, "index.html"))) {
      throw new Error(`building examples/dashboard failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
    }
    rmSync(dashboardDist, { recursive: true, force: true });
    try {
      renameSync(tmp, dashboardDist);
    } catch (err) {
      // Another build (npm start, another test file) swapped its own in at the same moment: as good as this one.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function mtime(p: string): number {
  return statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? -Infinity;
}

function files(dir: string, keep: (p: string) => boolean = () => true): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.name === "node_modules" || e.name.startsWith(".") || !keep(p)) continue;
    if (e.isDirectory()) out.push(...files(p, keep));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------
// npm start

export interface NpmStart {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** `http://127.0.0.1:<port>/`, as printed on the "dashboard" line. */
  base: string;
  /** The sample feed's tcp URL, from the "/feed <- ..." line. */
  feedUrl: string;
  /** SIGINT (Ctrl-C) and wait for the exit; resolves with how it ended. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL unless it has ended (for a test that failed half way). */
  kill(): void;
}

/** Run `node scripts/start.mjs ...args` (what `npm start -- ...args` runs) and wait for the URLs it prints. */
export async function npmStart(args: string[]): Promise<NpmStart> {
  const child = spawn(process.execPath, ["scripts/start.mjs", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const kill = (): void => {
    if (!gone()) child.kill("SIGKILL");
  };
  try {
    // Bounded: 60 s covers a cold build of the dashboard on a loaded machine.
    await until(() => /Ctrl-C stops everything/.test(out) || gone(), "scripts/start.mjs to print its URLs", 2400, 25);
  } catch (err) {
    kill();
    throw new Error(`${(err as Error).message}; output so far:\n${out}`, { cause: err });
  }
  const base = /dashboard\s+(http:\/\/\S+)/.exec(out)?.[1];
  const feedUrl = /\/feed\s+<- (\S+)/.exec(out)?.[1];
  if (base === undefined || feedUrl === undefined) {
    kill();
    throw new Error(`scripts/start.mjs did not print the dashboard and /feed lines:\n${out}`);
  }
  return {
    child,
    output: () => out,
    base,
    feedUrl,
    stop: () => {
      if (!gone()) child.kill("SIGINT");
      return exited;
    },
    kill,
  };
}

// ---------------------------------------------------------------------------
// Pages

/** `window.__dashboard` (see examples/dashboard/src/main.ts, DashboardState). */
export interface DashboardState {
  received: number;
  byTopic: Record<string, number>;
  state: string;
  rate: number;
  delayMs: number;
  topics: string[];
}

/** `window.__rpc` (see examples/rpc/page.ts, RpcPageState). */
export interface RpcState {
  sent: number;
  pending: number;
  ok: number;
  timeout: number;
  cancelled: number;
  error: number;
  state: string;
}

interface PageGlobals {
  __dashboard?: DashboardState;
  __rpc?: RpcState;
  /** Every value the badge's data-state took, in order, consecutive repeats left out. */
  __badgeStates?: string[];
}

/**
 * Runs before the page's own scripts: once the document is parsed, record the
 * badge's data-state now and on every change. The dashboard paints the badge
 * in an animation frame, after DOMContentLoaded, so its first value is seen.
 */
const BADGE_RECORDER = `
globalThis.__badgeStates = [];
document.addEventListener("DOMContentLoaded", () => {
  const badge = document.querySelector('[data-testid="badge"]');
  if (badge === null) return;
  const note = () => {
    const s = badge.getAttribute("data-state");
    const seen = globalThis.__badgeStates;
    if (seen[seen.length - 1] !== s) seen.push(s);
  };
  note();
  new MutationObserver(note).observe(badge, { attributes: true, attributeFilter: ["data-state"] });
});
`;

export interface ExamplePage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console lines and page errors so far (for failure messages). */
  readonly logs: readonly string[];
  /** The dashboard's `window.__dashboard`, copied out of the page. */
  dashboard(): Promise<DashboardState>;
  /** The rpc page's `window.__rpc`. */
  rpc(): Promise<RpcState>;
  /** The badge's data-state values so far, consecutive repeats left out. */
  badges(): Promise<string[]>;
  /** The text of the element with this data-testid. */
  text(testid: string): Promise<string>;
  /** Poll `read` until `ok` holds (a bounded wait); throws with the last value and the page's console. */
  until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, tries?: number): Promise<T>;
  /** Save a PNG of the page to test-results/screenshots/<name>.png (or to `path`); returns the path. */
  screenshot(name: string, path?: string): Promise<string>;
  /** Close the page's context. Safe to call twice. */
  close(): Promise<void>;
}

/** Open `url` (the dashboard or the rpc page) in a new 1200x800 context of `browser`. */
export async function openExamplePage(browser: Browser, url: string): Promise<ExamplePage> {
  const logs: string[] = [];
  const context = await browser.newContext({ viewport: VIEWPORT });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await context.close();
  };
  try {
    await context.addInitScript({ content: BADGE_RECORDER });
    const page = await context.newPage();
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.stack ?? e.message}`));
    const res = await page.goto(url);
    if (res === null || !res.ok()) throw new Error(`GET ${url}: ${res?.status() ?? "no response"}`);
    const self: ExamplePage = {
      context,
      page,
      logs,
      dashboard: async () => {
        const v = await page.evaluate(() => (globalThis as unknown as PageGlobals).__dashboard);
        if (v === undefined) throw new Error(`${url} has no window.__dashboard; console:\n${logs.join("\n")}`);
        return v;
      },
      rpc: async () => {
        const v = await page.evaluate(() => (globalThis as unknown as PageGlobals).__rpc);
        if (v === undefined) throw new Error(`${url} has no window.__rpc; console:\n${logs.join("\n")}`);
        return v;
      },
      badges: () => page.evaluate(() => [...((globalThis as unknown as PageGlobals).__badgeStates ?? [])]),
      text: async (testid) => (await page.getByTestId(testid).first().textContent()) ?? "",
      until: async (read, ok, what, tries = 600) => {
        let last: unknown;
        for (let i = 0; i < tries; i++) {
          const v = await read();
          if (ok(v)) return v;
          last = v;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`gave up waiting for: ${what}; last: ${JSON.stringify(last)}\n--- page console ---\n${logs.join("\n") || "(empty)"}`);
      },
      screenshot: async (name, path) => {
        const to = path ?? join(screenshotDir, `${name}.png`);
        mkdirSync(join(to, ".."), { recursive: true });
        await page.screenshot({ path: to });
        return to;
      },
      close,
    };
    return self;
  } catch (err) {
    await close();
    throw err;
  }
}

/** GET `<base>metrics` and read the samples asked for, all from one scrape. */
export async function scrape<K extends string>(
  base: string,
  wanted: Record<K, [name: string, labels: Record<string, string>]>,
): Promise<Record<K, number>> {
  const res = await fetch(new URL("metrics", base));
  if (!res.ok) throw new Error(`GET ${base}metrics: ${res.status}`);
  const text = await res.text();
  const out = {} as Record<K, number>;
  for (const k of Object.keys(wanted) as K[]) {
    const [name, labels] = wanted[k];
    out[k] = metricIn(text, name, labels);
  }
  return out;
}

/** Runs the functions registered with the returned `add` when test `t` ends, last first. */
export function cleanup(t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => fns.push(fn);
}

/**
 * For the tests of one describe(): builds the dashboard when it is missing and
 * launches one Chromium before them, closed after them. Returns the browser.
 */
export function dashboardBrowser(): () => Browser {
  let browser: Browser | undefined;
  before(async () => {
    ensureDashboardBuilt();
    browser = await launchChromium();
  }, { timeout: 120_000 });
  after(async () => {
    await browser?.close();
  }, { timeout: 30_000 });
  return () => {
    if (browser === undefined) throw new Error("Chromium is not running: dashboardBrowser() hooks have not run");
    return browser;
  };
}
