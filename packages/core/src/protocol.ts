/**
 * The shape every protocol file has. A protocol is a factory that, given its
 * socket's hooks, returns the pipe hooks (addPipe, removePipe, pipeMessage,
 * pipeReady) and the socket verbs (send, optionally recv) it implements.
 *
 * Contracts (as in nng's and mangos's protocol interfaces):
 * - addPipe may refuse a pipe by returning an SPError; removePipe then never
 *   runs for it. Otherwise removePipe runs exactly once per added pipe.
 * - pipeMessage gets one whole message, header and body together; the
 *   protocol peels its header and either delivers, drops (counted), or closes
 *   the pipe (bad bytes). It never throws.
 * - pipeReady runs when a pipe that was full can take messages again.
 */
import type { SPError } from "./errors.js";
import type { Logger } from "./log.js";
import type { Message } from "./message.js";
import type { ResolvedOptions } from "./options.js";
import type { ProtocolPipe } from "./pipe.js";
import type { ProtocolInfo } from "./protocols.js";

/** Per-call options for send, recv, request, survey. */
export interface OpOptions {
  /** Abort the operation; it rejects with the signal's reason, unchanged. */
  signal?: AbortSignal;
  /** Time limit in ms (overrides the socket's sendTimeout/recvTimeout); rejects with ETIMEDOUT. */
  timeout?: number;
}

export interface ProtocolHooks {
  readonly info: ProtocolInfo;
  readonly options: ResolvedOptions;
  readonly raw: boolean;
  readonly log: Logger;
  /** Hand a message to the socket's receive queue (or a waiting recv). */
  deliver(msg: Message): void;
  /** Count a dropped message with its reason. */
  drop(reason: string, pipe?: ProtocolPipe): void;
  /** Count a message a filter (a SUB subscription) let pass by; not a drop. */
  filtered(): void;
  /** Close a pipe for a protocol violation: logged, counted, other pipes untouched. */
  closePipe(pipe: ProtocolPipe, err: SPError): void;
  /** The live pipes, in the order they were added. */
  pipes(): readonly ProtocolPipe[];
  /** Look a pipe up by id. */
  pipe(id: number): ProtocolPipe | undefined;
  /** True once the socket is closed. */
  readonly closed: boolean;
}

export interface ProtocolImpl {
  addPipe(p: ProtocolPipe): SPError | void;
  removePipe(p: ProtocolPipe): void;
  pipeMessage(p: ProtocolPipe, data: Uint8Array): void;
  pipeReady?(p: ProtocolPipe): void;
  /** Send one message; `opts.timeout` is already resolved against the socket default. */
  send(msg: Message, opts: OpOptions): Promise<void>;
  /** Protocols with their own receive path (cooked REQ) supply this; others use the socket's queue. */
  recv?(opts: OpOptions): Promise<Message>;
  /** Runs when the application takes a message from the receive queue (REP remembers whom to answer). */
  received?(m: Message): void;
  /** How the socket's receive queue behaves when full: drop the oldest (SUB) or pause the pipes. */
  readonly recvFull?: "drop-oldest" | "pause";
  /** False for protocols that never receive (PUB, PUSH): recv() fails with ENOTSUP. */
  readonly canRecv?: boolean;
  close(): void;
}

export type ProtocolFactory<P extends ProtocolImpl = ProtocolImpl> = (hooks: ProtocolHooks) => P;
