/**
 * @spwire/node: the spwire sockets for Node, with Node's transports
 * (tcp://, ws:// listen and dial) given to every socket by default.
 *
 * Nothing is registered globally: the classes here are the core classes with
 * a different default for the `transports` option, so core sockets stay
 * browser-pure and a Node program can still pass its own list.
 */
import * as core from "@spwire/core";
import type { SocketConfig, Transport } from "@spwire/core";
import { tcpTransport } from "./transport/tcp.js";
import { nodeWsTransport } from "./transport/ws.js";

export * from "@spwire/core";
export { tcpTransport } from "./transport/tcp.js";
export { nodeWsTransport } from "./transport/ws.js";

/** The transports a Node socket gets unless told otherwise: tcp, ws, wss. */
export function nodeTransports(): Transport[] {
  return [tcpTransport(), nodeWsTransport()];
}

function withNodeTransports(config: SocketConfig | undefined): SocketConfig {
  return { ...config, transports: config?.transports ?? nodeTransports() };
}

/** PUB with Node transports. */
export class Pub extends core.Pub {
  constructor(config?: SocketConfig) {
    super(withNodeTransports(config));
  }
}

/** SUB with Node transports. */
export class Sub extends core.Sub {
  constructor(config?: SocketConfig) {
    super(withNodeTransports(config));
  }
}

/** REQ with Node transports. */
export class Req extends core.Req {
  constructor(config?: SocketConfig) {
    super(withNodeTransports(config));
  }
}

/** REP with Node transports. */
export class Rep extends core.Rep {
  constructor(config?: SocketConfig) {
    super(withNodeTransports(config));
  }
}
