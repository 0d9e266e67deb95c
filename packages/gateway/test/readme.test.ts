/**
 * The README's gateway tables must match the code: the metrics table is
 * generated from METRICS_DOC (SPWIRE_UPDATE_README=1 rewrites it), and every
 * close code the gateway can send is documented.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CLOSE, REFUSALS } from "@spwire/gateway";
import { METRICS_DOC } from "../src/metrics.js";

const readme = fileURLToPath(new URL("../../../README.md", import.meta.url));
const BEGIN = "<!-- gateway-metrics:begin -->";
const END = "<!-- gateway-metrics:end -->";

function table(): string {
  const rows = METRICS_DOC.map((d) => `| \`${d.name}\` | ${d.type} | ${d.labels || "—"} | ${d.help.replace(/\|/g, "\\|")} |`);
  return ["| metric | type | labels | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

test("the README's metrics table is the one METRICS_DOC gives", () => {
  const text = readFileSync(readme, "utf8");
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  assert.ok(i >= 0 && j > i, "README has the gateway-metrics markers");
  const want = `${BEGIN}\n${table()}\n${END}`;
  const have = text.slice(i, j + END.length);
  if (have !== want && process.env.SPWIRE_UPDATE_README === "1") {
    writeFileSync(readme, text.slice(0, i) + want + text.slice(j + END.length));
    return;
  }
  assert.equal(have, want, "README metrics table is stale: run SPWIRE_UPDATE_README=1 node scripts/test.mjs gateway/test/readme");
});

test("every close code and refusal reason the gateway sends is in the README", () => {
  const text = readFileSync(readme, "utf8");
  for (const [reason, code] of Object.entries(REFUSALS)) {
    assert.ok(text.includes(`\`${reason}\``), `README names refusal reason ${reason}`);
    assert.ok(text.includes(`| ${code} |`) || text.includes(`${code} `), `README has close code ${code}`);
  }
  for (const code of Object.values(CLOSE)) assert.ok(text.includes(String(code)), `README has close code ${code}`);
});
