/**
 * Browser build of @spwire/core (library mode), written to dist/:
 *
 *   spwire.js       ES module, minified, tree-shakable (no module of core has a
 *                   top-level side effect; scripts/size.mjs checks that a bare
 *                   import of it bundles to nothing)
 *   spwire.iife.js  a plain <script> that defines the global `spwire`
 *   spwire.d.ts     types for an ES import of spwire.js: tsc's declarations for
 *                   core, copied to dist/types/ so that dist/ stands alone
 *
 * each with a source map. Nothing is polyfilled: core imports no Node built-in.
 * The declarations come from `tsc -b packages/core`, which `npm run build` and
 * `npm run build:browser` run first.
 *
 * This config is the library only. The example pages (the dashboard and the
 * rpc page) are a Vite app of their own, examples/dashboard/vite.config.ts:
 * `npx vite build examples/dashboard` builds them (`npm start` does when they
 * are stale) and `npx vite examples/dashboard` is their dev server.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const root = dirname(fileURLToPath(import.meta.url));
const coreDist = join(root, "packages", "core", "dist");

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
    minify: "oxc",
    lib: {
      entry: "packages/core/src/browser/index.ts",
      name: "spwire",
      formats: ["es", "iife"],
      fileName: (format) => (format === "es" ? "spwire.js" : `spwire.${format}.js`),
    },
    rolldownOptions: {
      // Vite leaves the ES build's whitespace in to keep /* @__PURE__ */ comments;
      // core needs none (no top-level side effects), so it is minified like the IIFE.
      // The ES build keeps the annotations for the page's own bundler; the IIFE is
      // bundled already, so there they would only be bytes, as would the Symbol.toStringTag
      // that would mark the global as a module namespace.
      output: [
        { format: "es", entryFileNames: "spwire.js", minify: true, comments: { annotation: true, jsdoc: false, legal: false } },
        { format: "iife", name: "spwire", entryFileNames: "spwire.iife.js", minify: true, comments: false, generatedCode: { symbols: false } },
      ],
    },
  },
  plugins: [coreTypes()],
});

/** Writes dist/spwire.d.ts and dist/types/ (core's declarations) next to the ES build. */
function coreTypes(): Plugin {
  let outDir = "";
  return {
    name: "spwire-core-types",
    apply: "build",
    configResolved(c) {
      outDir = resolve(c.root, c.build.outDir);
    },
    buildStart() {
      if (!exists(join(coreDist, "browser", "index.d.ts"))) {
        this.error(`${relative(root, coreDist)}/browser/index.d.ts is missing: run "tsc -b packages/core" first (npm run build does)`);
      }
    },
    writeBundle(opts) {
      if (opts.format !== "es") return;
      const types = join(outDir, "types");
      for (const file of walk(coreDist)) {
        if (!file.endsWith(".d.ts")) continue;
        const to = join(types, relative(coreDist, file));
        mkdirSync(dirname(to), { recursive: true });
        // The declaration maps point into packages/core/src, which dist/ does not carry.
        writeFileSync(to, readFileSync(file, "utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"));
      }
      writeFileSync(
        join(outDir, "spwire.d.ts"),
        "/** Types of spwire.js: @spwire/core/browser (see its socket.ts for what it shares with @spwire/core). */\nexport * from \"./types/browser/index.js\";\n",
      );
    },
  };
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}
