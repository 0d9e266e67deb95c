/**
 * @spwire/core/browser: the browser build's surface (dist/spwire.js and the
 * `spwire` global of dist/spwire.iife.js). The eleven sockets dial ws:// and
 * wss:// over the page's WebSocket; see ./socket.ts for what they share with
 * @spwire/core and what they leave to it.
 */
export { SPError, isSPError, type ErrorCode } from "../errors.js";
export { Message, type Data } from "../message.js";
export type { SocketOptions, ResolvedOptions } from "../options.js";
export type { OpOptions } from "../protocol.js";

export type { WsCloseInfo } from "../transport/ws.js";
export type { Survey, SurveyOptions } from "../protocol/surveyor0.js";
export {
  BrowserSocket,
  type BrowserSocketConfig,
  type BrowserDialOptions,
  type BrowserSocketEvents,
  type PageWebSocket,
  type PagePipe,
} from "./socket.js";
export { Sub, Pub, Req, Rep, Push, Pull, Pair0, Pair1, Bus, Surveyor, Respondent } from "./sockets.js";
