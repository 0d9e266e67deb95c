/**
 * @spwire/core: nanomsg/nng Scalability Protocols over WebSocket, for
 * browsers and Node, with zero dependencies. This file is the public surface.
 */
export { SPError, ErrorCodes, isSPError, type ErrorCode } from "./errors.js";
export { Message, toBytes, type Data } from "./message.js";
export { defaults, type SocketOptions, type ResolvedOptions } from "./options.js";
export { protocols, wsProtocolName, type ProtocolInfo } from "./protocols.js";
export { consoleLogger, silentLogger, type Logger } from "./log.js";
export { Socket, Listener, type SocketConfig, type SocketStats, type SocketEvents } from "./socket.js";
export { Dialer, type DialOptions, type DialerState } from "./dialer.js";
export { gatewaySubUrl, parseSubQuery } from "./gateway-query.js";
export { Pipe } from "./pipe.js";
export { device, type Device } from "./device.js";
export type { OpOptions, ProtocolHooks, ProtocolImpl, ProtocolFactory } from "./protocol.js";
export type {
  Transport,
  TransportPipe,
  TransportPipeHandler,
  TransportOptions,
  TransportListener,
} from "./transport.js";
export {
  wsTransport,
  WsPipe,
  type WebSocketLike,
  type WebSocketFactory,
  type WebSocketConstructor,
  type WsTransportOptions,
  type WsPipeOptions,
  type WsPipeIo,
  type WsCloseInfo,
} from "./transport/ws.js";
export { inprocTransport, type InprocOptions } from "./transport/inproc.js";
export { PipeInbox } from "./transport/inbox.js";

export { Pub, pub0 } from "./protocol/pub0.js";
export { Sub, sub0 } from "./protocol/sub0.js";
export { Req, req0 } from "./protocol/req0.js";
export { Rep, rep0 } from "./protocol/rep0.js";
export { Push, push0 } from "./protocol/push0.js";
export { Pull, pull0 } from "./protocol/pull0.js";
export { Pair0, pair0 } from "./protocol/pair0.js";
export { Pair1, pair1 } from "./protocol/pair1.js";
export { Bus, bus0 } from "./protocol/bus0.js";
export { Surveyor, surveyor0, type Surveyor0, type Survey, type SurveyOptions } from "./protocol/surveyor0.js";
export { Respondent, respondent0 } from "./protocol/respondent0.js";
export { type Responder } from "./protocol/responder.js";
