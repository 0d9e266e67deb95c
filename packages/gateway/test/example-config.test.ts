/**
 * The commented example configuration in packages/gateway/gateway.example.yaml
 * (shown in the README) must stay valid and mean what its comments say.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import { loadConfigFile, resolveConfig } from "@spwire/gateway";

const file = fileURLToPath(new URL("../gateway.example.yaml", import.meta.url));

test("the example config resolves with its secrets from the environment", () => {
  const cfg = resolveConfig(loadConfigFile(file), {
    baseDir: dirname(file),
    env: { DASHBOARD_TOKEN: "dash-secret", JWT_SECRET: "jwt-secret-of-enough-length-0123456789" },
  });
  assert.equal(cfg.listen, "ws://0.0.0.0:8080");
  assert.deepEqual(
    cfg.routes.map((r) => [r.path, r.protocol, r.mode, r.auth, r.queue.policy]),
    [
      ["/feed", "sub", "shared", true, "latest"],
      ["/rpc", "req", "shared", true, "drop-old"],
      ["/chat", "pair1", "per-connection", false, "drop-old"],
    ],
  );
  assert.deepEqual(cfg.auth.tokens[0]!.rights, { routes: ["/feed"], read: ["public.", "cpu.", "mem."], publish: [] });
  assert.equal(cfg.auth.tokens[0]!.token, "dash-secret");
  assert.equal(cfg.auth.jwt?.secret, "jwt-secret-of-enough-length-0123456789");
  assert.deepEqual(cfg.routes[1]!.rateLimit, { messages: 50, burst: 100 });
});

test("the example config without its environment names the missing variables", () => {
  assert.throws(
    () => resolveConfig(loadConfigFile(file), { baseDir: dirname(file), env: {} }),
    (err: Error) => /DASHBOARD_TOKEN/.test(err.message) && /JWT_SECRET/.test(err.message),
  );
});
