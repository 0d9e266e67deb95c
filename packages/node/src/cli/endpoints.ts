/**
 * spcat's addresses: which transports it has, the URL checks nng 1.5.2 makes
 * before any I/O (and the stage each failure is reported at), the URL `-v`
 * prints for a listener, and the TLS material nngcat hands to every TLS
 * endpoint. spcat.ts turns the results into nngcat's lines; the facts are in
 * NNGCAT-NOTES.md.
 */
import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { createSecureContext } from "node:tls";
import { inprocTransport, nodeTransports, type Transport } from "@spwire/node";
import type { Config } from "./args.js";

/**
 * Every transport spcat can use: Node's (tcp, ws, wss, ipc, tls+tcp) and
 * inproc, which, as in nngcat, joins sockets of this one process only.
 */
export function cliTransports(): Transport[] {
  return [...nodeTransports(), inprocTransport()];
}

/** The scheme of an nng URL, lower case, or undefined when it has no "://" (nng: invalid argument). */
export function schemeOf(url: string): string | undefined {
  const i = url.indexOf("://");
  return i < 0 ? undefined : url.slice(0, i).toLowerCase();
}

const isTcp = (scheme: string): boolean => /^(tls\+)?tcp[46]?$/.test(scheme);
const isWs = (scheme: string): boolean => /^wss?[46]?$/.test(scheme);

/** Schemes whose endpoints have a TLS configuration (nngcat configures TLS on exactly these). */
export function isTlsScheme(scheme: string): boolean {
  return scheme.startsWith("tls+") || /^wss[46]?$/.test(scheme);
}

/** Host and port text of a tcp or ws URL (a tcp URL has no path); port is undefined when absent. */
function hostPort(url: string): { host: string; port: string | undefined } {
  const authority = url.slice(url.indexOf("://") + 3).split("/")[0]!;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority);
  return { host: m?.[1] ?? authority, port: m?.[2] };
}

/** The file path of an ipc URL as nng takes it: everything after "ipc://", not decoded. */
const ipcPath = (url: string): string => url.slice(url.indexOf("://") + 3);

/** Linux's sun_path holds 108 bytes with the NUL; nng refuses longer paths when the endpoint starts. */
const MAX_IPC_PATH_BYTES = 107;
/** nng 1.5.2 refuses an ipc path of more than 128 bytes already when it makes the dialer or listener. */
const MAX_IPC_URL_PATH_BYTES = 128;

/**
 * The URL problems nng 1.5.2 reports when it creates a dialer or listener,
 * before any I/O ("Unable to create ..."). Undefined when the URL passes.
 */
export function createError(mode: "dial" | "listen", url: string, schemes: readonly string[]): string | undefined {
  const scheme = schemeOf(url);
  if (scheme === undefined) return "Invalid argument";
  if (!schemes.includes(scheme)) return "Not supported";
  if (scheme === "ipc") {
    const n = Buffer.byteLength(ipcPath(url));
    return n === 0 || n > MAX_IPC_URL_PATH_BYTES ? "Address invalid" : undefined;
  }
  const tcp = isTcp(scheme);
  if (!tcp && !isWs(scheme)) return undefined;
  const { host, port } = hostPort(url);
  // A dialer needs a host (and tcp a port; ws defaults to 80); a tcp listener needs at least one of them.
  if (mode === "dial" && (host === "" || (tcp && port === undefined))) return "Address invalid";
  if (mode === "listen" && tcp && host === "" && port === undefined) return "Address invalid";
  return undefined;
}

/** Problems nng reports when it starts the endpoint ("Unable to dial on ..." / "Unable to listen on ..."), found without I/O. */
export function startError(url: string): string | undefined {
  if (schemeOf(url) === "ipc" && Buffer.byteLength(ipcPath(url)) > MAX_IPC_PATH_BYTES) return "Address invalid";
  return undefined;
}

/**
 * True when `url` is an ipc URL whose directory does not exist. nng reports
 * a listen there as "Entry not found"; Node cannot (libuv turns the bind's
 * ENOENT into EACCES), so spcat looks for itself once a listen failed.
 */
export function ipcDirMissing(url: string): boolean {
  if (schemeOf(url) !== "ipc") return false;
  const path = ipcPath(url);
  return path !== "" && !existsSync(dirname(path));
}

/**
 * What nngcat -v prints for a listener. nng 1.5.2 reports a tcp (and
 * tls+tcp) listener's URL with the bound port filled in (and a `*` host as
 * empty), but every other listener's URL (ws, wss, ipc, inproc) exactly as
 * given, port 0 included.
 */
export function listenerDisplayUrl(given: string, bound: string): string {
  if (!isTcp(schemeOf(given) ?? "")) return given;
  const m = /^([^:]+:\/\/)(.*):(\d+)$/.exec(given);
  if (m === null) return given;
  let port: string;
  try {
    port = new URL(bound).port;
  } catch {
    return given; // the transport's own URL did not parse: show what the user gave
  }
  return `${m[1]}${m[2] === "*" ? "" : m[2]}:${port || m[3]}`;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * True when `pem` holds at least one PEM certificate and every one of them
 * parses. Text around the blocks is ignored, as nng (mbedTLS) ignores it;
 * DER is refused, as nngcat refuses it. (Node's tls itself accepts garbage
 * as `ca` without a word, so this is checked here.)
 */
function validCaChain(pem: Uint8Array): boolean {
  const blocks = Buffer.from(pem).toString("latin1").match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) return false;
  try {
    for (const b of blocks) new X509Certificate(b);
    return true;
  } catch {
    return false;
  }
}

function validOwnCert(cert: Uint8Array, key: Uint8Array): boolean {
  try {
    createSecureContext({ cert: Buffer.from(cert), key: Buffer.from(key) });
    return true;
  } catch {
    return false;
  }
}

/** What one TLS endpoint gets, or why nngcat would say "Unable to configure TLS". */
export type TlsSetup =
  | { ok: true; options: Record<string, unknown> }
  | { ok: false; reason: string };

/**
 * nngcat's TLS configuration for one dialer or listener on a TLS scheme:
 * `--insecure` turns verification off, `--cert` (with `--key`, or the cert
 * file itself holding the key) is our certificate, `--cacert` the trust
 * anchors. A `--key` without `--cert` is ignored. Bad material fails here,
 * for either role, as "Unable to configure TLS: Cryptographic error".
 *
 * Listeners never ask for client certificates, so `--cacert` and
 * `--insecure` are checked but not passed to a listener (spwire refuses `ca`
 * there rather than ignoring it). A listener without `--cert` cannot serve
 * TLS at all; nngcat listens anyway and every handshake fails, spcat stops
 * at once (see NNGCAT-NOTES.md).
 */
export function tlsSetup(mode: "dial" | "listen", cfg: Config): TlsSetup {
  const key = cfg.key ?? cfg.cert;
  if (cfg.cert !== undefined && !validOwnCert(cfg.cert, key!)) return { ok: false, reason: "Cryptographic error" };
  if (cfg.cacert !== undefined && !validCaChain(cfg.cacert)) return { ok: false, reason: "Cryptographic error" };
  const options: Record<string, unknown> = {};
  if (cfg.cert !== undefined) {
    options.cert = cfg.cert;
    options.key = key;
  }
  if (mode === "dial") {
    if (cfg.insecure) options.insecure = true;
    if (cfg.cacert !== undefined) options.ca = cfg.cacert;
  } else if (cfg.cert === undefined) {
    return { ok: false, reason: "a TLS listener needs --cert (and --key, unless the cert file holds the key)" };
  }
  return { ok: true, options };
}
