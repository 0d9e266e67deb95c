/**
 * tls+tcp:// (and tls+tcp4://, tls+tcp6://) for Node: TLS over TCP, then
 * exactly tcp://'s SP handshake and framing (sp-wire.md 3) inside it. Also
 * the TLS options that wss:// shares (see ./ws.ts).
 *
 * Options come through `dial()`/`listen()` (unknown keys reach the
 * transport): `cert`, `key`, `ca` as PEM strings or bytes, `insecure`,
 * `servername`. A dialer verifies the listener's certificate unless told
 * `insecure: true`: against `ca` (default: Node's root store), for
 * `servername` or else the URL host — an IP host must be in the
 * certificate's IP subjectAltNames. A listener needs `cert` and `key`.
 *
 * Listeners do not ask dialers for certificates; nng's listeners do not
 * either by default (auth mode "none"), and nngcat's never do. `ca` on a
 * listener is therefore refused (EINVAL) rather than silently meaning
 * nothing.
 *
 * One deadline, `handshakeTimeout`, covers TCP connect, the TLS handshake and
 * the SP handshake. TLS failures end the dial or the connection with ECRYPTO
 * and OpenSSL's reason ("self-signed certificate", "wrong version number").
 */
import { X509Certificate } from "node:crypto";
import { connect as tlsConnect, createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import { isIP, type Socket } from "node:net";
import { SPError, type Transport, type TransportListener, type TransportOptions, type TransportPipe } from "@spwire/core";
import { dialTcp, listenTcp, type TcpLayer, type TcpWhere } from "./tcp.js";

/** PEM text, or its bytes. */
export type Pem = string | Uint8Array;

/** The TLS options of tls+tcp:// and wss://, as `dial()` and `listen()` take them. */
export interface TlsOptions {
  /** Our certificate (chain), PEM. Required to listen; on a dialer, a client certificate (with `key`). */
  cert?: Pem;
  /** The private key for `cert`, PEM (unencrypted). */
  key?: Pem;
  /** Certificate authorities a dialer trusts, PEM; default Node's root store. Dial only. */
  ca?: Pem | readonly Pem[];
  /** Dial without verifying the listener's certificate (nngcat `--insecure`). Default false. */
  insecure?: boolean;
  /** The name the listener's certificate must carry (and SNI); default the URL host. Dial only. */
  servername?: string;
}

/** Checked TLS settings: a secure context built from the PEM material, and the verification choice. */
export interface TlsSettings {
  context: SecureContext;
  /** False only with `insecure: true`. */
  verify: boolean;
  servername: string | undefined;
  /** The material as given, so listeners sharing a port can be compared. */
  cert: Pem | undefined;
  key: Pem | undefined;
}

const isPem = (v: unknown): v is Pem => typeof v === "string" || v instanceof Uint8Array;

/** Node's tls takes strings or Buffers; a plain Uint8Array is viewed as a Buffer, not copied. */
const nodePem = (p: Pem): string | Buffer => (typeof p === "string" ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));

/**
 * Read and check the TLS options in `opts` for a dial or a listen on `href`;
 * throws SPError EINVAL with a message naming the bad option. PEM material
 * is parsed here (into a secure context), so a bad key fails the call at
 * once, not at the first connection.
 */
export function readTlsOptions(opts: TransportOptions, role: "dial" | "listen", href: string): TlsSettings {
  const bad = (why: string): SPError => new SPError("EINVAL", `${href}: ${why}`);
  const { cert, key, ca, insecure, servername } = opts as TransportOptions & Record<keyof TlsOptions, unknown>;
  if (cert !== undefined && !isPem(cert)) throw bad("cert must be a PEM string or its bytes");
  if (key !== undefined && !isPem(key)) throw bad("key must be a PEM string or its bytes");
  if (ca !== undefined && !isPem(ca) && !(Array.isArray(ca) && ca.every(isPem))) {
    throw bad("ca must be a PEM string, its bytes, or an array of those");
  }
  if (insecure !== undefined && typeof insecure !== "boolean") throw bad(`insecure must be a boolean, got ${typeof insecure}`);
  if (servername !== undefined && (typeof servername !== "string" || servername === "")) {
    throw bad("servername must be a non-empty string");
  }
  if (role === "listen") {
    if (cert === undefined || key === undefined) {
      throw bad("a TLS listener needs cert and key (PEM), e.g. listen(url, { cert, key })");
    }
    if (ca !== undefined) {
      throw bad("ca is a dial option: listeners do not verify dialers' certificates");
    }
    if (servername !== undefined) throw bad("servername is a dial option");
  } else if ((cert === undefined) !== (key === undefined)) {
    throw bad("a client certificate needs both cert and key");
  }
  if (ca !== undefined) {
    // Node skips ca entries that hold no certificate without a word; a typo must not mean "trust nothing".
    for (const one of isPem(ca) ? [ca] : (ca as readonly Pem[])) {
      try {
        new X509Certificate(nodePem(one));
      } catch (err) {
        throw new SPError("EINVAL", `${href}: ca is not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
    }
  }
  let context: SecureContext;
  try {
    context = createSecureContext({
      cert: cert === undefined ? undefined : nodePem(cert),
      key: key === undefined ? undefined : nodePem(key),
      ca: ca === undefined ? undefined : isPem(ca) ? nodePem(ca) : (ca as readonly Pem[]).map(nodePem),
    });
  } catch (err) {
    const what = err instanceof Error ? err.message : String(err);
    throw new SPError("EINVAL", `${href}: the TLS certificate, key or ca is not usable: ${what}`, { cause: err });
  }
  return { context, verify: insecure !== true, servername, cert, key };
}

/** The Node tls options for a dialer: verification on unless insecure; name checked against servername or the URL host. */
export function clientTlsOptions(t: TlsSettings): { secureContext: SecureContext; rejectUnauthorized: boolean; servername?: string } {
  return {
    secureContext: t.context,
    rejectUnauthorized: t.verify,
    ...(t.servername !== undefined ? { servername: t.servername } : {}),
  };
}

/** A server-side TLS session on an accepted connection. */
export function serverTlsSocket(raw: Socket, t: TlsSettings): TLSSocket {
  return new TLSSocket(raw, { isServer: true, secureContext: t.context });
}

function layer(t: TlsSettings): TcpLayer {
  return {
    prefix: "tls+",
    connect: (where: TcpWhere) =>
      tlsConnect({
        host: where.host,
        port: where.port,
        ...(where.family !== 0 ? { family: where.family } : {}),
        ...clientTlsOptions(t),
        // Without servername, tls.connect sends no SNI but checks the certificate against the host.
        // Send the URL host as SNI too, unless it is an IP: RFC 6066 allows only DNS names there.
        ...(t.servername === undefined && where.host !== undefined && isIP(where.host) === 0 ? { servername: where.host } : {}),
      }),
    wrap: (raw: Socket) => serverTlsSocket(raw, t),
  };
}

function dial(url: URL, opts: TransportOptions): Promise<TransportPipe> {
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  let t: TlsSettings;
  try {
    t = readTlsOptions(opts, "dial", url.href);
  } catch (err) {
    return Promise.reject(err);
  }
  return dialTcp(url, opts, layer(t));
}

function listen(
  url: URL,
  opts: TransportOptions,
  accept: (pipe: TransportPipe) => void,
  refused: (err: SPError, remoteAddress: string) => void,
): Promise<TransportListener> {
  let t: TlsSettings;
  try {
    t = readTlsOptions(opts, "listen", url.href);
  } catch (err) {
    return Promise.reject(err);
  }
  return listenTcp(url, opts, accept, refused, layer(t));
}

/**
 * The tls+tcp:// transport: nng's TLS transport (TLS 1.2+, then SP over TCP).
 *
 * @example
 * const rep = new Rep({ transports: [tlsTransport()] });
 * const l = await rep.listen("tls+tcp://127.0.0.1:0", { cert, key });
 * const req = new Req({ transports: [tlsTransport()] });
 * await req.dial(l.url, { ca }); // or { insecure: true } to skip verification
 */
export function tlsTransport(): Transport {
  return { schemes: ["tls+tcp", "tls+tcp4", "tls+tcp6"], dial, listen };
}
