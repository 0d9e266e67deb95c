/**
 * Bundle size is measured by scripts/size.mjs (`npm run size`), which writes
 * bench/size.md; the bench only reads that table so there is one measurement
 * of it, not two that could disagree.
 */
import { existsSync, readFileSync } from "node:fs";

const num = (s) => Number(String(s).replace(/[^0-9.]/g, ""));

/** The rows of bench/size.md's table: page, package, bytes min, bytes min+gz, target (or null), met (or null). */
export function sizeRows(file) {
  if (!existsSync(file)) return { source: "bench/size.md", rows: [], note: "bench/size.md is missing: run npm run size -- --write" };
  const rows = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells.length < 6 || cells[0] === "page" || /^-+:?$|^:?-+:?$/.test(cells[1])) continue;
    const target = cells[4] === "—" ? null : num(cells[4].split("(")[0]);
    rows.push({
      page: cells[0],
      package: cells[1],
      min: num(cells[2]),
      gz: num(cells[3]),
      target,
      met: target === null ? null : num(cells[3]) <= target,
    });
  }
  return { source: "bench/size.md (scripts/size.mjs)", rows };
}
