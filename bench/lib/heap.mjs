/**
 * Heap snapshot comparison for the memory case (--profile): self size and
 * object count by constructor (or node type), after minus before, per
 * connection.
 */
import { existsSync, readFileSync } from "node:fs";

/** Map "kind:name" -> [self bytes, count] for one .heapsnapshot file. */
function bySelfSize(file) {
  const s = JSON.parse(readFileSync(file, "utf8"));
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const step = fields.length;
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out = new Map();
  for (let i = 0; i < s.nodes.length; i += step) {
    const type = types[s.nodes[i + iType]];
    const key = type === "object" || type === "closure" ? `${s.strings[s.nodes[i + iName]]} (${type})` : `(${type})`;
    const e = out.get(key) ?? [0, 0];
    e[0] += s.nodes[i + iSize];
    e[1] += 1;
    out.set(key, e);
  }
  return out;
}

/** Markdown: what `n` connections added to the heap, per connection, largest first. */
export function heapDiff(before, after, n, title, top = 20) {
  if (!existsSync(before) || !existsSync(after)) return "";
  const a = bySelfSize(before);
  const b = bySelfSize(after);
  const rows = [];
  let total = 0;
  for (const [k, [bytes, count]] of b) {
    const [b0, c0] = a.get(k) ?? [0, 0];
    const d = (bytes - b0) / n;
    total += d;
    if (d > 0) rows.push([k, d, (count - c0) / n]);
  }
  rows.sort((x, y) => y[1] - x[1]);
  let out = `\n**${title}**: heap self size added per connection ${Math.round(total).toLocaleString("en-US")} B\n\n`;
  out += "| bytes / conn | objects / conn | constructor (kind) |\n|--:|--:|---|\n";
  for (const [k, d, c] of rows.slice(0, top)) out += `| ${Math.round(d)} | ${c.toFixed(1)} | \`${k}\` |\n`;
  return out;
}
