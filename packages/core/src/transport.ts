/**
 * Transport: turns a URL into pipes. A transport knows nothing of protocols
 * beyond the two ids/names it is handed for the handshake; it moves whole
 * messages (header and body already joined by the caller) and reports why a
 * pipe ended.
 *
 * Transports are given to each socket (`new Sub({ transports })`); importing a
 * module registers nothing.
 */
import type { SPError } from "./errors.js";
import type { ProtocolInfo } from "./protocols.js";

/** Callbacks a transport pipe calls. Set once with `start()`. */
export interface TransportPipeHandler {
  /** One whole message (SP header + body), never larger than `recvMaxSize`. The array may be a view into a transport buffer that is not reused. */
  message(data: Uint8Array): void;
  /** The pipe is gone. Called exactly once; `err` is undefined for a clean local close. */
  closed(err?: SPError): void;
  /** The transport can take more after `write()` returned false. */
  drain(): void;
}

/**
 * One established connection that moves whole messages.
 *
 * Contract: `write()` always accepts the message (it is queued in the
 * transport); it returns false when the transport's buffer is over its high
 * water mark, and the caller should then wait for `drain`. After `closed`
 * nothing else is called. `close()` may be called any number of times.
 */
export interface TransportPipe {
  /** e.g. `tcp://127.0.0.1:5555`, or the ws URL. */
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** Begin delivering messages to `h`. Messages that arrive before start are held. */
  start(h: TransportPipeHandler): void;
  /** Send one message made of `parts` (concatenated on the wire). */
  write(parts: readonly Uint8Array[]): boolean;
  /** Stop reading from the peer (receive back-pressure). Optional: browsers cannot. */
  pause?(): void;
  resume?(): void;
  /** Close the connection; `closed` follows with `err` (or none). */
  close(err?: SPError): void;
}

/** What a socket hands a transport when it dials or listens. */
export interface TransportOptions {
  /** This socket's protocol and its expected peer. */
  readonly protocol: ProtocolInfo;
  /** Largest message accepted, bytes, checked before buffering; 0 = no limit. */
  readonly recvMaxSize: number;
  /** Deadline for the handshake, ms. */
  readonly handshakeTimeout: number;
  /** Abort an in-progress dial. */
  readonly signal?: AbortSignal;
  /** Transport-specific extras (TLS material, ws headers ...). */
  readonly [key: string]: unknown;
}

/** A bound listener. `url` has the real port when the caller asked for port 0. */
export interface TransportListener {
  readonly url: string;
  close(): Promise<void>;
}

export interface Transport {
  /** URL schemes this transport serves, without the colon: `["ws", "wss"]`. */
  readonly schemes: readonly string[];
  /** Connect once. Rejects with an SPError (ECONNREFUSED, ETIMEDOUT, EPROTO, EPEER ...). */
  dial(url: URL, opts: TransportOptions): Promise<TransportPipe>;
  /** Bind and accept pipes; `accept` is called for each pipe whose handshake succeeded. Absent when the transport cannot listen (browsers). */
  listen?(
    url: URL,
    opts: TransportOptions,
    accept: (pipe: TransportPipe) => void,
    refused: (err: SPError, remoteAddress: string) => void,
  ): Promise<TransportListener>;
}
