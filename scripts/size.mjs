#!/usr/bin/env node
/**
 * The browser size budget (`npm run size`), and the same measurement of the
 * alternatives a page could use instead.
 *
 * Every page is bundled by esbuild with the same settings (bundle, minify,
 * target es2022, format esm, platform browser) and gzipped at level 9 with
 * node:zlib. The one setting only spwire answers to is the `source` export
 * condition: the `Sub` page bundles @spwire/core from its TypeScript sources,
 * so it is measured fresh without a build (tsc's output minifies to within a
 * few bytes of it). The other spwire rows measure the browser build in dist/
 * (`npm run build`): the ES build with a page importing `Sub` from it, and the
 * whole IIFE as it is, gzipped.
 *
 *   node scripts/size.mjs              measure, print the table, check the budgets
 *                                      and that README.md and bench/size.md show this table
 *   node scripts/size.mjs --write      the same, and rewrite the README block and bench/size.md
 *   node scripts/size.mjs --dist DIR   measure the browser build in DIR instead of dist/
 *   node scripts/size.mjs --breakdown  only print where the bytes of the Sub page and of
 *                                      every-protocol bundle come from, module by module
 *                                      (minified bytes each module leaves in the output)
 *
 * Exit code 1 when a page is over its CI guard, when dist/spwire.js has a
 * top-level side effect (a bare import of it must bundle to nothing), or
 * (without --write) when README.md or bench/size.md shows other figures.
 */
import { build } from "esbuild";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("..", import.meta.url));
const KB = 1024;
const README = join(root, "README.md");
const BENCH = join(root, "bench", "size.md");
const BEGIN = "<!-- size:begin -->";
const END = "<!-- size:end -->";

const argv = process.argv.slice(2);
const write = argv.includes("--write");
const breakdown = argv.includes("--breakdown");
const distArg = argv.indexOf("--dist");
const dist = resolve(root, distArg >= 0 ? argv[distArg + 1] ?? "" : "dist");
for (const a of argv) {
  if (a !== "--write" && a !== "--breakdown" && a !== "--dist" && argv[argv.indexOf(a) - 1] !== "--dist") {
    fail(`unknown argument ${JSON.stringify(a)}; usage: node scripts/size.mjs [--write] [--breakdown] [--dist DIR]`);
  }
}

/** The same settings for every page. */
const ESBUILD = {
  bundle: true,
  minify: true,
  target: "es2022",
  format: "esm",
  platform: "browser",
  conditions: ["source"],
  write: false,
  logLevel: "silent",
};

const SUB_PAGE = (from) => `import { Sub } from ${JSON.stringify(from)};
const sub = new Sub();
sub.subscribe("cpu.");
sub.dial("ws://127.0.0.1:8080/feed");
for await (const msg of sub) console.log(msg.text());
`;

/**
 * The pages. Each alternative does the least a page needs to receive one
 * topic over WebSocket: connect and subscribe. `version` names the package
 * whose version the table shows.
 */
const pages = [
  {
    name: "spwire `Sub` only: subscribe, dial, iterate",
    version: "@spwire/core",
    target: 3 * KB,
    guard: 4.5 * KB,
    code: SUB_PAGE("@spwire/core/browser"),
  },
  {
    name: "spwire `Sub` only, from the built dist/spwire.js",
    version: "@spwire/core",
    target: 3 * KB,
    guard: 4.5 * KB,
    code: SUB_PAGE(join(dist, "spwire.js")),
  },
  {
    name: "spwire, the whole dist/spwire.iife.js (every protocol)",
    version: "@spwire/core",
    target: 8 * KB,
    guard: 8 * KB,
    file: join(dist, "spwire.iife.js"),
  },
  {
    name: "NATS: `wsconnect` + `subscribe`",
    version: "@nats-io/nats-core",
    code: `import { wsconnect } from "@nats-io/nats-core";
const nc = await wsconnect({ servers: "ws://127.0.0.1:8080" });
for await (const msg of nc.subscribe("cpu.>")) console.log(msg.string());
`,
  },
  {
    // mqtt's "browser" export condition (esbuild's platform browser) picks dist/mqtt.esm.js,
    // its own browser bundle; its Node entry would pull in net, tls and fs.
    name: "MQTT.js: `connect` + `subscribe` (browser export, dist/mqtt.esm.js)",
    version: "mqtt",
    code: `import mqtt from "mqtt";
const client = mqtt.connect("ws://127.0.0.1:8080/mqtt");
client.subscribe("cpu/#");
client.on("message", (topic, payload) => console.log(topic, payload.toString()));
`,
  },
  {
    name: "Socket.IO: `io()` + `on`",
    version: "socket.io-client",
    code: `import { io } from "socket.io-client";
const socket = io("ws://127.0.0.1:8080", { transports: ["websocket"] });
socket.on("cpu", (data) => console.log(data));
`,
  },
  {
    name: "Centrifugo: `new Centrifuge()` + `newSubscription`",
    version: "centrifuge",
    code: `import { Centrifuge } from "centrifuge";
const client = new Centrifuge("ws://127.0.0.1:8080/connection/websocket");
const sub = client.newSubscription("cpu");
sub.on("publication", (ctx) => console.log(ctx.data));
sub.subscribe();
client.connect();
`,
  },
];

if (breakdown) {
  await printBreakdown("the Sub page", SUB_PAGE("@spwire/core/browser"), "esm");
  await printBreakdown("every protocol (what dist/spwire.iife.js holds)", `export * from "@spwire/core/browser";\n`, "iife");
  process.exit(0);
}

checkBuilt();
const problems = [];
const rows = [];
for (const p of pages) {
  const bytes = p.file !== undefined ? readFileSync(p.file) : await bundle(p.code, p.name);
  const gz = gzipSync(bytes, { level: 9 }).length;
  // Two limits: `target` is issue 5's budget (not met yet: the table says so), `guard` is the
  // ceiling a change may not cross (today's size plus a little), so the bundle cannot grow unnoticed.
  const pass = p.target === undefined ? undefined : gz <= p.target;
  if (p.guard !== undefined && gz > p.guard) problems.push(`${p.name}: ${fmt(gz)} bytes min+gz, over its guard of ${fmt(p.guard)}`);
  rows.push({ ...p, min: bytes.length, gz, pass, ver: versionOf(p.version) });
}

// Tree-shaking: a bundler must be able to drop every unused export of the ES build.
const bare = await bundle(`import ${JSON.stringify(join(dist, "spwire.js"))};\n`, "bare import of dist/spwire.js");
if (bare.toString().trim() !== "") {
  problems.push(`dist/spwire.js has top-level side effects: a bare import of it bundles to ${bare.length} bytes, not 0`);
}

const FOOTNOTE = `Each page bundled by esbuild ${esbuildVersion()} (\`bundle, minify, target es2022, format esm, platform browser\`), then gzip level 9; 1 KB = 1024 bytes. The spwire pages use the browser build (\`@spwire/core/browser\`, what \`dist/\` holds). Generated by \`node scripts/size.mjs --write\`; \`npm test\` fails when these figures are stale or a spwire page grows past its CI guard (the IIFE's guard is its 8 KB target). The Sub page's 3 KB target is not met: \`docs/browser-size.md\` says where its bytes are and what the rest would cost.`;
const table = renderTable(rows);
const readmeBlock = `${BEGIN}\n${table}\n\n${FOOTNOTE}\n${END}`;
const benchText = renderBench(table);
console.log(table);
console.log(`\n${bare.toString().trim() === "" ? "✓" : "✗"} a bare \`import "dist/spwire.js"\` bundles to nothing (no top-level side effects)`);

const readme = readFileSync(README, "utf8");
const i = readme.indexOf(BEGIN);
const j = readme.indexOf(END);
if (i < 0 || j < i) {
  problems.push(`README.md has no ${BEGIN} ... ${END} block`);
} else if (write) {
  writeFileSync(README, readme.slice(0, i) + readmeBlock + readme.slice(j + END.length));
  writeFileSync(BENCH, benchText);
  console.log("\nwrote the README.md size block and bench/size.md");
} else {
  if (readme.slice(i, j + END.length) !== readmeBlock) {
    problems.push("README.md's size block shows other figures than this run: run `node scripts/size.mjs --write` and commit it");
  }
  if (!existsSync(BENCH) || readFileSync(BENCH, "utf8") !== benchText) {
    problems.push("bench/size.md shows other figures than this run: run `node scripts/size.mjs --write` and commit it");
  }
}

if (problems.length > 0) {
  console.error(`\nsize: ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}

async function bundle(code, what) {
  let r;
  try {
    r = await build({ ...ESBUILD, stdin: { contents: code, resolveDir: root, sourcefile: "page.js", loader: "js" } });
  } catch (err) {
    fail(`cannot bundle ${what}: ${err.errors?.map((e) => e.text).join("; ") ?? err.message}`);
  }
  return Buffer.from(r.outputFiles[0].contents);
}

/** Bytes each module leaves in a page's minified bundle, largest first, and the page's totals. */
async function printBreakdown(what, code, format) {
  const r = await build({
    ...ESBUILD,
    format,
    globalName: format === "iife" ? "spwire" : undefined,
    metafile: true,
    stdin: { contents: code, resolveDir: root, sourcefile: "page.js", loader: "js" },
  });
  const out = r.outputFiles[0].contents;
  const inputs = Object.entries(Object.values(r.metafile.outputs)[0].inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput);
  console.log(`\n${what}: ${fmt(out.length)} bytes min, ${fmt(gzipSync(out, { level: 9 }).length)} min+gz\n`);
  console.log("| module | bytes min | share |\n|---|--:|--:|");
  for (const [file, v] of inputs) {
    if (v.bytesInOutput === 0) continue;
    console.log(`| ${file} | ${fmt(v.bytesInOutput)} | ${((100 * v.bytesInOutput) / out.length).toFixed(1)}% |`);
  }
}

/** The browser build this run measures must exist. */
function checkBuilt() {
  for (const f of ["spwire.js", "spwire.iife.js"]) {
    if (!existsSync(join(dist, f))) fail(`${relative(root, join(dist, f))} is missing: run \`npm run build\` first`);
  }
}

function renderTable(rs) {
  const head = "| page | package | bytes min | bytes min+gz | target (min+gz) | met | CI guard |\n|---|---|--:|--:|--:|:-:|--:|";
  const kb = (n) => (n === undefined ? "—" : `${fmt(n)} (${n / KB} KB)`);
  const body = rs.map(
    (r) =>
      `| ${r.name} | ${r.ver} | ${fmt(r.min)} | ${fmt(r.gz)} | ${kb(r.target)} | ${r.pass === undefined ? "—" : r.pass ? "✓" : "✗"} | ${kb(r.guard)} |`,
  );
  return [head, ...body].join("\n");
}


function renderBench(t) {
  return `# Browser bundle sizes

What a web page pays for spwire, beside what it would pay for the alternatives
that a dashboard could use to receive live data over WebSocket. spwire's \`Sub\`
page subscribes, dials and iterates; each alternative's page connects and
subscribes to one topic; the IIFE row is the built \`dist/spwire.iife.js\`
itself, every protocol included. Each page is bundled by the same esbuild
settings and everything is gzipped the same way, by \`scripts/size.mjs\` (run
by \`npm test\` through \`e2e/size.test.ts\`).

${t}

${FOOTNOTE}
`;
}

function versionOf(name) {
  const dir = name === "@spwire/core" ? join(root, "packages", "core") : join(root, "node_modules", ...name.split("/"));
  return `${name} ${JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version}`;
}

function esbuildVersion() {
  return JSON.parse(readFileSync(join(root, "node_modules", "esbuild", "package.json"), "utf8")).version;
}

function fmt(n) {
  return n.toLocaleString("en-US");
}

function fail(msg) {
  console.error(`size: ${msg}`);
  process.exit(1);
}
