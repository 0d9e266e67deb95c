/**
 * Browser build of @spwire/core (library mode): dist/spwire.js (ES module)
 * and dist/spwire.iife.js (a plain <script> that defines `spwire`).
 * The examples' dev server comes in with the dashboard.
 */
import { defineConfig } from "vite";

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
    lib: {
      entry: "packages/core/src/index.ts",
      name: "spwire",
      formats: ["es", "iife"],
      fileName: (format) => (format === "es" ? "spwire.js" : `spwire.${format}.js`),
    },
  },
});
