/**
 * GatewayMetrics: the exact Prometheus lines each event produces, the
 * scrape-time gauges read from the sources, and one registry per instance.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { register as globalRegistry } from "prom-client";
import { GatewayMetrics, METRICS_DOC } from "../src/metrics.js";

const P = "spwire_gateway_";

/** The sample lines of a rendering (no HELP/TYPE comments). */
async function samples(m: GatewayMetrics): Promise<string[]> {
  return (await m.render()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

/** The sample lines of one metric. */
async function linesOf(m: GatewayMetrics, name: string): Promise<string[]> {
  return (await samples(m)).filter((l) => l.startsWith(`${P}${name}{`) || l.startsWith(`${P}${name} `));
}

test("messages() counts messages and bytes per route and direction", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.messages("/feed", "down", 1, 10);
  m.messages("/feed", "down", 2, 32);
  m.messages("/feed", "up", 1, 5);
  m.messages("/chat", "up", 4, 400);
  const text = await samples(m);
  assert.ok(text.includes(`${P}messages_total{route="/feed",direction="down"} 3`));
  assert.ok(text.includes(`${P}messages_total{route="/feed",direction="up"} 1`));
  assert.ok(text.includes(`${P}bytes_total{route="/feed",direction="down"} 42`));
  assert.ok(text.includes(`${P}bytes_total{route="/feed",direction="up"} 5`));
  assert.ok(text.includes(`${P}messages_total{route="/chat",direction="up"} 4`));
  assert.ok(text.includes(`${P}messages_total{route="/chat",direction="down"} 0`));
  assert.ok(text.includes(`${P}bytes_total{route="/chat",direction="up"} 400`));
});

test("connections gauge follows opens and closes; closes are counted by reason", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.connectionOpened("/feed");
  m.connectionOpened("/feed");
  m.connectionOpened("/feed");
  m.connectionClosed("/feed", "client");
  m.connectionClosed("/feed", "error:EPROTO");
  assert.deepEqual(await linesOf(m, "connections"), [`${P}connections{route="/feed"} 1`]);
  assert.deepEqual(await linesOf(m, "connections_opened_total"), [`${P}connections_opened_total{route="/feed"} 3`]);
  assert.deepEqual(await linesOf(m, "connections_closed_total"), [
    `${P}connections_closed_total{route="/feed",reason="client"} 1`,
    `${P}connections_closed_total{route="/feed",reason="error:EPROTO"} 1`,
  ]);
});

test("refusals are counted by route and reason, and an unknown path (route \"\") gets no per-route series", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.refused("", "no-route");
  m.refused("", "no-route");
  m.refused("/feed", "token-missing");
  assert.deepEqual(await linesOf(m, "refusals_total"), [
    `${P}refusals_total{route="",reason="no-route"} 2`,
    `${P}refusals_total{route="/feed",reason="token-missing"} 1`,
  ]);
  assert.deepEqual(await linesOf(m, "connections"), []);
  assert.deepEqual(await linesOf(m, "messages_total"), []);
});

test("drops count 1 by default or the count given, by reason", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.dropped("/feed", "queue-full");
  m.dropped("/feed", "queue-full");
  m.dropped("/feed", "slow-consumer", 7);
  m.dropped("/feed", "rate-limit", 0);
  assert.deepEqual(await linesOf(m, "drops_total"), [
    `${P}drops_total{route="/feed",reason="queue-full"} 2`,
    `${P}drops_total{route="/feed",reason="slow-consumer"} 7`,
    `${P}drops_total{route="/feed",reason="rate-limit"} 0`,
  ]);
});

test("filtered messages are counted apart from drops", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.filtered("/feed");
  m.filtered("/feed", 4);
  assert.deepEqual(await linesOf(m, "filtered_total"), [`${P}filtered_total{route="/feed"} 5`]);
  assert.deepEqual(await linesOf(m, "drops_total"), []);
});

test("pipe errors are counted by route, side and code", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.pipeClosed("/feed", "upstream", "ECONNRESET");
  m.pipeClosed("/feed", "upstream", "ECONNRESET");
  m.pipeClosed("/feed", "client", "EPROTO");
  assert.deepEqual(await linesOf(m, "pipe_errors_total"), [
    `${P}pipe_errors_total{route="/feed",side="client",code="EPROTO"} 1`,
    `${P}pipe_errors_total{route="/feed",side="upstream",code="ECONNRESET"} 2`,
  ]);
});

test("queue gauges sum the queues() source per route at scrape time", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  let queues = [
    { route: "/feed", messages: 3, bytes: 300 },
    { route: "/feed", messages: 2, bytes: 20 },
    { route: "/chat", messages: 0, bytes: 0 },
  ];
  m.setSources({ queues: () => queues, upstreams: () => [] });
  assert.deepEqual(await linesOf(m, "queue_messages"), [`${P}queue_messages{route="/feed"} 5`, `${P}queue_messages{route="/chat"} 0`]);
  assert.deepEqual(await linesOf(m, "queue_bytes"), [`${P}queue_bytes{route="/feed"} 320`, `${P}queue_bytes{route="/chat"} 0`]);
  // Read again at the next scrape, not accumulated.
  queues = [{ route: "/feed", messages: 1, bytes: 9 }];
  assert.deepEqual(await linesOf(m, "queue_messages"), [`${P}queue_messages{route="/feed"} 1`]);
  assert.deepEqual(await linesOf(m, "queue_bytes"), [`${P}queue_bytes{route="/feed"} 9`]);
});

test("upstream gauges come from upstreams(): pipes, and up as 1 or 0", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.setSources({
    queues: () => [],
    upstreams: () => [
      { route: "/feed", pipes: 2, up: true },
      { route: "/chat", pipes: 0, up: false },
    ],
  });
  assert.deepEqual(await linesOf(m, "upstream_pipes"), [`${P}upstream_pipes{route="/feed"} 2`, `${P}upstream_pipes{route="/chat"} 0`]);
  assert.deepEqual(await linesOf(m, "upstream_up"), [`${P}upstream_up{route="/feed"} 1`, `${P}upstream_up{route="/chat"} 0`]);
});

test("upstream traffic counters come from upstreams(): in and out, messages and bytes; a route without traffic has no series", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.setSources({
    queues: () => [],
    upstreams: () => [
      { route: "/feed", pipes: 1, up: true, traffic: { inMessages: 7, inBytes: 700, outMessages: 0, outBytes: 0 } },
      { route: "/rpc", pipes: 1, up: true, traffic: { inMessages: 3, inBytes: 48, outMessages: 4, outBytes: 64 } },
      { route: "/chat", pipes: 0, up: false },
    ],
  });
  assert.deepEqual(await linesOf(m, "upstream_messages_total"), [
    `${P}upstream_messages_total{route="/feed",direction="in"} 7`,
    `${P}upstream_messages_total{route="/feed",direction="out"} 0`,
    `${P}upstream_messages_total{route="/rpc",direction="in"} 3`,
    `${P}upstream_messages_total{route="/rpc",direction="out"} 4`,
  ]);
  assert.deepEqual(await linesOf(m, "upstream_bytes_total"), [
    `${P}upstream_bytes_total{route="/feed",direction="in"} 700`,
    `${P}upstream_bytes_total{route="/feed",direction="out"} 0`,
    `${P}upstream_bytes_total{route="/rpc",direction="in"} 48`,
    `${P}upstream_bytes_total{route="/rpc",direction="out"} 64`,
  ]);
});

test("addRoute() starts a route's series at zero", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.addRoute("/feed");
  const text = await samples(m);
  for (const line of [
    `${P}connections{route="/feed"} 0`,
    `${P}connections_opened_total{route="/feed"} 0`,
    `${P}messages_total{route="/feed",direction="down"} 0`,
    `${P}messages_total{route="/feed",direction="up"} 0`,
    `${P}bytes_total{route="/feed",direction="down"} 0`,
    `${P}filtered_total{route="/feed"} 0`,
    `${P}queue_messages{route="/feed"} 0`,
    `${P}queue_bytes{route="/feed"} 0`,
  ]) {
    assert.ok(text.includes(line), `missing: ${line}`);
  }
});

test("two instances keep separate values and never use prom-client's global registry", async () => {
  const a = new GatewayMetrics({ processMetrics: false });
  const b = new GatewayMetrics({ processMetrics: false });
  a.messages("/feed", "down", 5, 50);
  b.messages("/feed", "down", 1, 1);
  a.connectionOpened("/feed");
  assert.ok((await samples(a)).includes(`${P}messages_total{route="/feed",direction="down"} 5`));
  assert.ok((await samples(b)).includes(`${P}messages_total{route="/feed",direction="down"} 1`));
  assert.deepEqual(await linesOf(b, "connections"), [`${P}connections{route="/feed"} 0`]);
  assert.notEqual(a.registry, b.registry);
  assert.equal((await globalRegistry.metrics()).includes(P), false);
});

test("process metrics go into the instance's registry with the prefix, and only when asked", async () => {
  const withProc = new GatewayMetrics();
  const without = new GatewayMetrics({ processMetrics: false });
  const a = await withProc.render();
  assert.match(a, /^spwire_gateway_process_cpu_user_seconds_total \d/m);
  assert.match(a, /^spwire_gateway_nodejs_heap_size_used_bytes \d/m);
  assert.equal((await without.render()).includes("process_cpu"), false);
  assert.equal((await globalRegistry.metrics()).includes(P), false);
});

test("every metric has HELP and TYPE as METRICS_DOC says", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  const text = await m.render();
  assert.equal(METRICS_DOC.length, 16);
  for (const d of METRICS_DOC) {
    assert.ok(d.name.startsWith(P), d.name);
    assert.ok(text.includes(`# HELP ${d.name} ${d.help}\n`), `HELP of ${d.name}`);
    assert.ok(text.includes(`# TYPE ${d.name} ${d.type}\n`), `TYPE of ${d.name}`);
    assert.ok(d.labels.split(", ").includes("route"), `${d.name} has a route label`);
  }
  const names = METRICS_DOC.map((d) => d.name);
  assert.deepEqual(
    [...text.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]),
    names,
    "the registry holds exactly the documented metrics",
  );
  assert.deepEqual(
    Object.fromEntries(METRICS_DOC.map((d) => [d.name.slice(P.length), `${d.type} ${d.labels}`])),
    {
      connections: "gauge route",
      connections_opened_total: "counter route",
      connections_closed_total: "counter route, reason",
      refusals_total: "counter route, reason",
      messages_total: "counter route, direction",
      bytes_total: "counter route, direction",
      drops_total: "counter route, reason",
      filtered_total: "counter route",
      pipe_errors_total: "counter route, side, code",
      upstream_dial_failures_total: "counter route, code",
      queue_messages: "gauge route",
      queue_bytes: "gauge route",
      upstream_pipes: "gauge route",
      upstream_messages_total: "counter route, direction",
      upstream_bytes_total: "counter route, direction",
      upstream_up: "gauge route",
    },
  );
});

test("label values are escaped in the exposition", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.refused("/a\"b\\c", "bad-request");
  assert.deepEqual(await linesOf(m, "refusals_total"), [`${P}refusals_total{route="/a\\"b\\\\c",reason="bad-request"} 1`]);
});

test("a negative or non-finite count throws a RangeError and changes nothing", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  assert.throws(() => m.messages("/feed", "down", -1, 0), { name: "RangeError", message: "GatewayMetrics: count must be a finite number >= 0, got -1" });
  assert.throws(() => m.messages("/feed", "down", 1, Number.NaN), { name: "RangeError", message: "GatewayMetrics: bytes must be a finite number >= 0, got NaN" });
  assert.throws(() => m.dropped("/feed", "queue-full", Number.POSITIVE_INFINITY), RangeError);
  assert.throws(() => m.filtered("/feed", -2), RangeError);
  assert.deepEqual(await linesOf(m, "messages_total"), []);
});

test("a source that throws makes render() reject", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.setSources({
    queues: () => {
      throw new Error("queues broke");
    },
    upstreams: () => [],
  });
  await assert.rejects(m.render(), /queues broke/);
});

test("contentType is the Prometheus text format", () => {
  const m = new GatewayMetrics({ processMetrics: false });
  assert.equal(m.contentType, "text/plain; version=0.0.4; charset=utf-8");
});

test("dialFailed counts failed upstream dials per route and code", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.dialFailed("/feed", "ECONNREFUSED");
  m.dialFailed("/feed", "ECONNREFUSED");
  m.dialFailed("/feed", "EPROTO");
  const text = await m.render();
  assert.match(text, /^spwire_gateway_upstream_dial_failures_total\{route="\/feed",code="ECONNREFUSED"\} 2$/m);
  assert.match(text, /^spwire_gateway_upstream_dial_failures_total\{route="\/feed",code="EPROTO"\} 1$/m);
});
