/**
 * One error class for everything spwire reports, with a stable `code`.
 *
 * Codes follow nng's error names (without the NNG_ prefix) so that a reader
 * who knows nng recognises them. The table lives here and in the README; add
 * a code in both places or not at all.
 */

/**
 * Every code an {@link SPError} can carry, with what it means. An SPError made
 * without a message says its code: every error spwire raises has a message of
 * its own, and the table stays out of the browser build.
 */
export const ErrorCodes = {
  /** The socket, dialer, listener or pipe was closed. */
  ECLOSED: "object closed",
  /** An operation did not finish within its time limit. */
  ETIMEDOUT: "timed out",
  /** The peer broke the protocol: bad handshake, bad framing, bad header. */
  EPROTO: "protocol error",
  /** The peer speaks a protocol this socket cannot talk to. */
  EPEER: "incompatible peer protocol",
  /** A message is larger than the limit (recvMaxSize or a frame limit). */
  EMSGSIZE: "message too large",
  /** The operation makes no sense in the current state (recv on REQ with no request). */
  ESTATE: "incorrect state",
  /** The protocol cannot do this (send on SUB, recv on PUB). */
  ENOTSUP: "not supported",
  /** An argument is wrong: bad URL, negative timeout, unknown option. */
  EINVAL: "invalid argument",
  /** The URL scheme has no transport on this socket. */
  EADDRINVAL: "address invalid",
  /** Nobody listens at the address, or the server refused the upgrade (404/405). */
  ECONNREFUSED: "connection refused",
  /** The connection was lost. */
  ECONNRESET: "connection reset",
  /** The connection was closed cleanly by the peer. */
  ECONNSHUT: "connection shutdown",
  /** The server refused with 401/403. */
  EPERM: "permission denied",
  /** The address is already in use (listen). */
  EADDRINUSE: "address in use",
  /** A message was dropped because a queue was full. */
  EAGAIN: "try again",
  /** TLS or certificate failure. */
  ECRYPTO: "cryptographic error",
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** The one error class of spwire. `code` is stable; `message` is for people. */
export class SPError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? code, options);
    this.name = "SPError";
    this.code = code;
  }
}

/** True when `e` is an SPError, optionally with the given code. */
export function isSPError(e: unknown, code?: ErrorCode): e is SPError {
  return e instanceof SPError && (code === undefined || e.code === code);
}

/** The error every operation on a closed socket gets. */
export function closedError(): SPError {
  return new SPError("ECLOSED", "socket is closed");
}
