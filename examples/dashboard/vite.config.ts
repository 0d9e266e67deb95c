/**
 * The examples' Vite app: the live dashboard (index.html) and the rpc page
 * (rpc.html, code in examples/rpc/page.ts).
 *
 *   npx vite build examples/dashboard    -> examples/dashboard/dist (what `npm start` serves)
 *   npx vite examples/dashboard          dev server; /feed and /rpc are proxied to a
 *                                        gateway (`npm start` in another terminal, or
 *                                        SPWIRE_GATEWAY=http://host:port)
 *
 * `@spwire/core/browser` (the browser build the pages use) resolves to packages/core/src through the workspace's
 * "source" export condition, so nothing has to be built first.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig, type ProxyOptions } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const gateway = process.env.SPWIRE_GATEWAY ?? "http://127.0.0.1:8080";

/**
 * The pages dial their own origin (`ws://<location.host>/feed`); in dev that
 * is Vite, which passes the two ws routes on. Exact paths (a query allowed),
 * so `/rpc.html` stays Vite's.
 */
const proxy: Record<string, ProxyOptions> = {
  "^/(feed|rpc)(\\?.*)?$": { target: gateway.replace(/^http/, "ws"), ws: true },
};

export default defineConfig({
  root: here,
  // Relative asset URLs: the built pages work wherever the gateway (or any server) mounts them.
  base: "./",
  resolve: { conditions: ["source", ...defaultClientConditions] },
  build: {
    outDir: join(here, "dist"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    rolldownOptions: {
      input: { index: join(here, "index.html"), rpc: join(here, "rpc.html") },
    },
  },
  server: { proxy },
  preview: { proxy },
});
