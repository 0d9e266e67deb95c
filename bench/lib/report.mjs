/**
 * Markdown for bench results: the summary against the targets (also the
 * README's performance table), the bundle sizes read from bench/size.md, and
 * every sample.
 */
import { readFileSync, writeFileSync } from "node:fs";

export const BEGIN = "<!-- bench:begin -->";
export const END = "<!-- bench:end -->";

function num(x, digits = 0) {
  return Number.isFinite(x) ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "n/a";
}

/** A figure with its unit, e.g. "123,456 msgs/s", "41.2 us", "9,876 B". */
export function figure(x, unit) {
  if (!Number.isFinite(x)) return "n/a";
  switch (unit) {
    case "us":
      return `${num(x, 1)} us`;
    case "bytes":
      return `${num(x)} B`;
    case "fraction":
      return `${num(x * 100, 1)}%`;
    default:
      return `${num(x)} ${unit}`;
  }
}

function comparisonCell(c) {
  if (c.kind === "diff") {
    const s = (x) => `${x >= 0 ? "+" : ""}${num(x, 1)}`;
    return `${s(c.median)} us (${s(c.min)} .. ${s(c.max)})`;
  }
  // Enough digits that a ratio just short of its target does not print as the target (1.998 is not "2.00x").
  const rounded = Number(c.median.toFixed(2));
  const digits = c.target !== undefined && c.met === false && rounded === c.target.value ? 3 : 2;
  return `${num(c.median, digits)}x (${num(c.min, 2)} .. ${num(c.max, 2)})`;
}

function targetCell(c) {
  if (c.target === undefined) return "—";
  return `${c.target.op === ">=" ? "≥" : "≤"} ${c.target.value}${c.kind === "diff" ? " us" : "x"}`;
}

function metCell(c) {
  if (c.skipped !== undefined) return "skipped";
  if (c.met === undefined) return "—";
  return c.met ? "✓" : "✗";
}

/** One line: date, mode, machine, versions. */
export function machineLine(doc) {
  const m = doc.machine;
  const v = m.versions;
  const pin = m.pinned ? `every process pinned to CPU ${m.pinned}` : "not pinned";
  const versions = [`Node ${v.node}`, `ws ${v.ws}`, v.bufferutil ? `bufferutil ${v.bufferutil}` : "no bufferutil", v.nng ? `libnng ${v.nng}` : "no libnng", m.chromium ? `Chromium ${m.chromium.replace(/ built on .*$/, "")}` : undefined]
    .filter(Boolean)
    .join(", ");
  return (
    `${doc.date.slice(0, 16).replace("T", " ")} UTC, \`${doc.mode}\` run, ${doc.reps} rep(s) per variant interleaved, ${pin}; ` +
    `${m.cpu}, ${m.cores} cores, load average ${m.loadavg.join(" ")} at the start; ${versions}; ` +
    `spwire ${v.spwire} (built dist${m.commit ? ` of ${m.commit}` : ""}).`
  );
}

/** The summary table: one row per comparison. */
export function summaryTable(doc) {
  let out = "| case | spwire | baseline | spwire / baseline (median, min .. max) | target | met |\n|---|--:|--:|--:|--:|:-:|\n";
  for (const c of doc.cases) {
    for (const cmp of c.comparisons) {
      const a = c.variants[cmp.a];
      const b = c.variants[cmp.b];
      const m = c.metrics[cmp.metric];
      // A case that compares several figures names the one each row compares (p50, p99, RSS per connection ...).
      const several = new Set(c.comparisons.map((x) => x.metric)).size > 1;
      const name = m.label ?? cmp.metric;
      const aCell = a.skipped ? "skipped" : figure(a.stats[cmp.metric].median, m.unit);
      const bCell = b.skipped ? `${b.label}: skipped` : `${b.label}: ${figure(b.stats[cmp.metric].median, m.unit)}`;
      const ratio = cmp.skipped !== undefined ? cmp.skipped : comparisonCell(cmp);
      const what = cmp.kind === "diff" ? ` — added ${name}` : several ? ` — ${name}` : "";
      out += `| ${c.title}${what} | ${aCell} | ${bCell} | ${ratio} | ${targetCell(cmp)} | ${metCell(cmp)} |\n`;
    }
  }
  out += sizeRows(doc);
  return out;
}

/**
 * Bundle size rows for the summary (issue 6's last case), from bench/size.md:
 * spwire's Sub-only page and its whole IIFE, each beside the smallest
 * alternative page measured there.
 */
function sizeRows(doc) {
  const rows = doc.size?.rows ?? [];
  const others = rows.filter((r) => r.target === null);
  if (others.length === 0) return "";
  const smallest = others.reduce((a, b) => (b.gz < a.gz ? b : a));
  const name = `smallest alternative (${smallest.page.split(":")[0]}): ${num(smallest.gz)} B`;
  let out = "";
  for (const r of rows.filter((x) => x.target !== null && !x.page.includes("from the built"))) {
    const met = r.gz <= r.target ? "✓" : "✗";
    out += `| Bundle size, ${r.page} (min+gz) | ${num(r.gz)} B | ${name} | ${num(r.gz / smallest.gz, 2)}x | ≤ ${num(r.target)} B | ${met} |\n`;
  }
  return out;
}

export function sizeTable(doc) {
  const rows = doc.size?.rows ?? [];
  if (rows.length === 0) return `Bundle size: ${doc.size?.note ?? "no figures"}\n`;
  let out = "| bundle (esbuild, min+gz) | bytes | target | met |\n|---|--:|--:|:-:|\n";
  for (const r of rows) {
    out += `| ${r.page} (${r.package}) | ${num(r.gz)} | ${r.target === null ? "—" : `≤ ${num(r.target)}`} | ${r.met === null ? "—" : r.met ? "✓" : "✗"} |\n`;
  }
  return out;
}

export function renderMarkdown(doc) {
  let out = `# Bench results\n\n${machineLine(doc)} Took ${num(doc.seconds)} s.\n\n`;
  out += "Each ratio is taken rep by rep (rep i of spwire over rep i of the baseline, run back to back), then the median of those; ";
  out += "for throughput higher is better, for latency and memory lower is better. See bench/README.md.\n\n";
  out += `## Against the targets\n\n${summaryTable(doc)}\n`;
  out += `## Bundle size, from ${doc.size?.source ?? "bench/size.md"}\n\n${sizeTable(doc)}\n`;
  out += "## Every sample\n";
  for (const c of doc.cases) {
    out += `\n### ${c.title} (\`${c.id}\`, ${num(c.seconds, 1)} s)\n\n`;
    if (c.note) out += `${c.note}\n\n`;
    out += "| variant | metric | median | min .. max | reps |\n|---|---|--:|--:|---|\n";
    for (const [id, v] of Object.entries(c.variants)) {
      if (v.skipped) {
        out += `| ${v.label} (\`${id}\`) | — | skipped: ${v.skipped} | | |\n`;
        continue;
      }
      for (const [m, s] of Object.entries(v.stats)) {
        const unit = c.metrics[m].unit;
        const name = c.metrics[m].label ?? m;
        const reps = s.values.map((x) => figure(x, unit)).join(", ");
        out += `| ${v.label} (\`${id}\`) | ${name} | ${figure(s.median, unit)} | ${figure(s.min, unit)} .. ${figure(s.max, unit)} | ${reps} |\n`;
      }
      for (const e of v.errors) out += `| ${v.label} (\`${id}\`) | error | ${e.split("\n")[0].replace(/\|/g, "\\|")} | | |\n`;
    }
  }
  return out;
}

/** Rewrite the block between the bench markers in README.md from `doc`. */
export function updateReadme(path, doc) {
  const text = readFileSync(path, "utf8");
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  if (i < 0 || j < i) throw new Error(`${path} has no ${BEGIN} ... ${END} block`);
  const block =
    `${BEGIN}\n${summaryTable(doc)}\n${machineLine(doc)} ` +
    `Generated by \`npm run bench -- --write\` from bench/results/latest.json; bundle sizes from bench/size.md.\n${END}`;
  writeFileSync(path, text.slice(0, i) + block + text.slice(j + END.length));
}
