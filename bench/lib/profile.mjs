/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`): self time per function
 * and per area (spwire core, @spwire/node, gateway, ws, Node internals, GC),
 * as a share of the time the process was busy (idle left out).
 *
 * A profile covers the whole process, start-up and module loading included;
 * given the measured window (monotonic seconds, the clock V8 stamps its
 * samples with, in microseconds) only the samples inside it count.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Which part of the code a script URL belongs to. */
function area(url) {
  if (url === "") return "native (V8 builtins, Node C++)";
  if (url.includes("/packages/core/")) return "spwire core";
  if (url.includes("/packages/node/")) return "@spwire/node";
  if (url.includes("/packages/gateway/")) return "gateway";
  if (url.includes("/node_modules/ws/")) return "ws";
  if (url.includes("/node_modules/")) return `npm: ${url.split("/node_modules/")[1].split("/")[0]}`;
  if (url.startsWith("node:")) return "Node internals";
  if (url.includes("/bench/")) return "bench peer";
  return "other";
}

function shortUrl(url) {
  const i = url.search(/\/(packages|node_modules|bench)\//);
  return i >= 0 ? url.slice(i + 1) : url;
}

/** Self time (µs) by function and by area for one .cpuprofile file, within `window` ([t0, t1] seconds) if given. */
export function profileSelfTimes(file, window = undefined) {
  const p = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const [from, to] = window === undefined ? [-Infinity, Infinity] : [window[0] * 1e6, window[1] * 1e6];
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const d = p.timeDeltas[i] ?? 0;
    t += d;
    if (t < from || t > to) continue;
    const id = p.samples[i];
    self.set(id, (self.get(id) ?? 0) + d);
  }
  const fns = new Map();
  const areas = new Map();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    if (cf.functionName === "(idle)") {
      idle += us;
      continue;
    }
    busy += us;
    const name = cf.functionName || "(anonymous)";
    const special = name.startsWith("(") && cf.url === "";
    const key = special ? name : `${name} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = special ? name : area(cf.url);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  return { busy, idle, fns, areas };
}

const pct = (x, total) => `${((100 * x) / total).toFixed(1)}%`;

/** Markdown: for each profile in `dir`, the areas and the top functions by self time (within `window`, if given). */
export function summariseProfiles(dir, title, window = undefined, top = 15) {
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort();
  let out = `### ${title}\n`;
  if (window !== undefined) out += `\nSamples from the measured stretch only (${((window[1] - window[0]) * 1000).toFixed(0)} ms).\n`;
  for (const f of files) {
    const { busy, idle, fns, areas } = profileSelfTimes(join(dir, f), window);
    out += `\n**${f.replace(/\.cpuprofile$/, "")}** — busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms\n\n`;
    out += `By area: ${[...areas].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${pct(v, busy)}`).join(", ")}\n\n`;
    out += "| self | function |\n|--:|---|\n";
    for (const [k, v] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) out += `| ${pct(v, busy)} | \`${k}\` |\n`;
  }
  return out;
}
