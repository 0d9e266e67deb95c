/**
 * The sample feed on its own, without the gateway or the dashboard (`npm
 * start` runs it in-process with both):
 *
 *   node --conditions=source --import tsx examples/feed/main.ts [--tcp URL] [--ws URL] [--rate N]
 *
 * Then, for example, `npm start -- --upstream tcp://127.0.0.1:5555` shows it
 * on the dashboard as an external upstream would be.
 */
import { parseArgs } from "node:util";
import { startFeed } from "./feed.js";

const { values } = parseArgs({
  options: {
    tcp: { type: "string", default: "tcp://127.0.0.1:5555" },
    /** Optional: also listen for ws subscribers (nngcat --sub0 --dial ws://...). */
    ws: { type: "string" },
    rate: { type: "string", default: "10" },
  },
});
const listen = [values.tcp!, ...(values.ws === undefined ? [] : [values.ws])];
const feed = await startFeed({ listen, rate: Number(values.rate) });
console.log("spwire sample feed publishing cpu.<host>, mem.<host>, net.<host>, alerts. on:");
for (const l of feed.listeners) console.log(`  ${l.url}`);
console.log(`
Subscribe from another terminal:
  npx spcat --sub0 --dial ${feed.listeners[0]!.url} --subscribe cpu. --ascii
  nngcat --sub0 --dial ${feed.listeners[0]!.url} --subscribe mem. --quoted
Ctrl-C stops it.`);
const stop = async (): Promise<void> => {
  await feed.close();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
