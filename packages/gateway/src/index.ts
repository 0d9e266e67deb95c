/**
 * @spwire/gateway: browsers' WebSocket endpoints bridged to nng, nanomsg and
 * mangos services over tcp, tls+tcp, ipc, ws and wss — with gateway-side topic
 * filtering, token rights, slow-consumer policies, limits and metrics.
 */
export { createGateway, type Gateway, type GatewayOptions } from "./gateway.js";
export { resolveConfig, loadConfigFile, ConfigError, type GatewayInput } from "./config.js";
export { GatewayMetrics } from "./metrics.js";
export { Route } from "./route.js";
export {
  ALL_RIGHTS,
  BROWSER_PROTOCOLS,
  CLOSE,
  REFUSALS,
  type AuthenticateHook,
  type AuthOutcome,
  type BrowserProtocol,
  type GatewayConfig,
  type Identity,
  type RefusalReason,
  type Rights,
  type RouteConfig,
  type SlowConsumerPolicy,
} from "./types.js";
