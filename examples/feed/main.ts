/** Run the sample feed from the command line (what `npm start` runs today). */
import { parseArgs } from "node:util";
import { startFeed } from "./feed.js";

const { values } = parseArgs({
  options: {
    tcp: { type: "string", default: "tcp://127.0.0.1:5555" },
    ws: { type: "string", default: "ws://127.0.0.1:8080/feed" },
    rate: { type: "string", default: "10" },
  },
});
const feed = await startFeed({ listen: [values.tcp!, values.ws!], rate: Number(values.rate) });
console.log("spwire sample feed publishing cpu.<host>, mem.<host>, net.<host>, alerts. on:");
for (const l of feed.listeners) console.log(`  ${l.url}`);
console.log(`
Subscribe from another terminal:
  npx spcat --sub0 --dial ${feed.listeners[0]!.url} --subscribe cpu. --ascii
  nngcat --sub0 --dial ${feed.listeners[1]!.url} --subscribe mem. --quoted
Ctrl-C stops it.`);
const stop = async (): Promise<void> => {
  await feed.close();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
