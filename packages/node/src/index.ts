/**
 * @spwire/node: the spwire sockets for Node, with Node's transports
 * (tcp://, ipc://, tls+tcp://, ws:// and wss:// listen and dial) given to every socket by default.
 *
 * Nothing is registered globally: the classes here are the core classes with
 * a different default for the `transports` option, so core sockets stay
 * browser-pure and a Node program can still pass its own list.
 */
import * as core from "@spwire/core";
import type { SocketConfig, Transport } from "@spwire/core";
import { tcpTransport } from "./transport/tcp.js";
import { nodeWsTransport } from "./transport/ws.js";
import { ipcTransport } from "./transport/ipc.js";
import { tlsTransport } from "./transport/tls.js";

export * from "@spwire/core";
export { tcpTransport } from "./transport/tcp.js";
export { nodeWsTransport, wsPipeIo, normalizePath as normalizeWsPath, refuseRaw as refuseUpgrade } from "./transport/ws.js";
export { ipcTransport } from "./transport/ipc.js";
export { tlsTransport, type TlsOptions, type Pem } from "./transport/tls.js";

/** The transports a Node socket gets unless told otherwise: tcp, ws, wss, ipc, tls+tcp. */
export function nodeTransports(): Transport[] {
  return [tcpTransport(), nodeWsTransport(), ipcTransport(), tlsTransport()];
}

function withNodeTransports(config: SocketConfig | undefined): SocketConfig {
  return { ...config, transports: config?.transports ?? nodeTransports() };
}

type SocketClass<S> = new (config?: SocketConfig) => S;

/** The core class `Base` with Node's transports as the default `transports`. */
function withNode<S>(Base: SocketClass<S>): SocketClass<S> {
  return class extends (Base as SocketClass<object>) {
    constructor(config?: SocketConfig) {
      super(withNodeTransports(config));
    }
  } as SocketClass<S>;
}

// Each export is both a value (the class) and a type (its instances), like a class declaration.
export const Pub = withNode(core.Pub);
export type Pub = core.Pub;
export const Sub = withNode(core.Sub);
export type Sub = core.Sub;
export const Req = withNode(core.Req);
export type Req = core.Req;
export const Rep = withNode(core.Rep);
export type Rep = core.Rep;
export const Push = withNode(core.Push);
export type Push = core.Push;
export const Pull = withNode(core.Pull);
export type Pull = core.Pull;
export const Pair0 = withNode(core.Pair0);
export type Pair0 = core.Pair0;
export const Pair1 = withNode(core.Pair1);
export type Pair1 = core.Pair1;
export const Bus = withNode(core.Bus);
export type Bus = core.Bus;
export const Surveyor = withNode(core.Surveyor);
export type Surveyor = core.Surveyor;
export const Respondent = withNode(core.Respondent);
export type Respondent = core.Respondent;
