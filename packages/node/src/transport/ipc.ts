/**
 * ipc:// for Node: SP over Unix domain stream sockets, dial and listen.
 *
 * Wire contract (sp-wire.md 4, verified against nngcat 1.5.2 and nanocat
 * 1.1.5): the same 8-byte SP handshake as tcp://, then every message is the
 * type byte 0x01, a u64 big-endian length and the payload. Any other type
 * byte closes the pipe with EPROTO, as nng and nanomsg close it.
 *
 * URLs, as nng reads them: `ipc:///abs/path` (absolute) and
 * `ipc://relative/path` (relative to the working directory). Percent-escapes
 * are decoded. WHATWG URL parsing removes "." and ".." segments after the
 * first one, so write such paths without them.
 *
 * Socket files: listen removes a stale one (a socket nobody accepts on: a
 * connect is refused) and binds; a live one is EADDRINUSE, and so is a path
 * that is not a socket, which is never removed. Closing the listener removes
 * its socket file.
 */
import { lstat, unlink } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { SPError, type Transport, type TransportListener, type TransportOptions, type TransportPipe } from "@spwire/core";
import { dialStream, fromErrno, serveStream } from "./tcp.js";

/**
 * Longest socket path in bytes: `sun_path` holds 108 bytes on Linux and 104
 * on macOS and the BSDs, one of them the terminating NUL. Node does not check
 * this: on Linux it silently binds a truncated path.
 */
const MAX_PATH_BYTES = process.platform === "linux" ? 107 : 103;

/** The file path in an ipc URL, or why there is none. */
function parseUrl(url: URL): string | SPError {
  const bad = (why: string): SPError => new SPError("EINVAL", `${url.href}: ${why}`);
  if (url.protocol !== "ipc:") return bad(`the ipc transport does not serve ${url.protocol}//`);
  if (url.username !== "" || url.password !== "") return bad("an ipc URL has no user or password");
  if (url.search !== "" || url.hash !== "") return bad("an ipc URL has no query or fragment");
  // ipc:///tmp/sp.ipc has an empty host and the path; ipc://sp.ipc puts the first segment in the host.
  let path: string;
  try {
    path = decodeURIComponent(url.host + url.pathname);
  } catch (err) {
    return bad(`bad percent-escape in the path: ${String(err)}`);
  }
  if (path === "" || path.endsWith("/")) return bad("an ipc URL needs a socket file path, e.g. ipc:///tmp/sp.ipc");
  if (path.includes("\0")) return bad("an ipc path cannot contain NUL");
  const n = Buffer.byteLength(path);
  if (n > MAX_PATH_BYTES) {
    return bad(`the socket path is ${n} bytes; Unix domain socket paths hold at most ${MAX_PATH_BYTES} here`);
  }
  return path;
}

function checkPlatform(url: URL): SPError | undefined {
  // nng maps ipc:// to named pipes on Windows; that mapping is not written (or tested) here.
  if (process.platform !== "win32") return undefined;
  return new SPError("ENOTSUP", `${url.href}: ipc:// is not supported on Windows by this transport`);
}

/** How long a probe that found a live listener waits for it to hang up before dropping the connection itself. */
const PROBE_LINGER_MS = 1000;

/** Resolves true when something accepts connections at `path`, false when the connect is refused (a stale socket). */
function someoneListens(path: string, href: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const probe = connect({ path });
    probe.once("connect", () => {
      settled = true;
      resolve(true);
      // Hang up gently (FIN, then read until the listener closes): nng 1.5.2's
      // ipc listener stops accepting for good after a peer that vanishes
      // (destroy) before nng could write its SP header. A half-close is fine.
      probe.end();
      probe.resume();
      const linger = setTimeout(() => probe.destroy(), PROBE_LINGER_MS);
      linger.unref();
      probe.once("close", () => clearTimeout(linger));
    });
    probe.on("error", (err: NodeJS.ErrnoException) => {
      probe.destroy();
      if (settled) return;
      settled = true;
      // ENOENT: the file went away since we looked; the path is free either way.
      if (err.code === "ECONNREFUSED" || err.code === "ENOENT") resolve(false);
      else reject(fromErrno(err, "EADDRINUSE", `${href}: cannot tell whether the socket file is in use`));
    });
  });
}

/**
 * Make `path` free to bind: absent, or a stale socket (removed here).
 * Throws EADDRINUSE when a process listens there or the path is not a socket.
 */
async function clearStaleSocket(path: string, href: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fromErrno(err, "EADDRINVAL", `cannot listen on ${href}`);
  }
  if (!st.isSocket()) {
    throw new SPError("EADDRINUSE", `cannot listen on ${href}: ${path} exists and is not a socket (it is left alone)`);
  }
  if (await someoneListens(path, href)) {
    throw new SPError("EADDRINUSE", `cannot listen on ${href}: another listener is accepting on ${path}`);
  }
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw fromErrno(err, "EADDRINUSE", `cannot listen on ${href}: cannot remove the stale socket ${path}`);
    }
  }
}

/** Remove our socket file, but only if it is still ours (same inode): another listener may have replaced it. */
async function removeSocketFile(path: string, ino: number | undefined): Promise<void> {
  if (ino === undefined) return;
  try {
    const st = await lstat(path);
    if (st.isSocket() && st.ino === ino) await unlink(path);
  } catch (err) {
    // Already gone: Node (libuv) unlinks the path itself when the server closes.
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

function dial(url: URL, opts: TransportOptions): Promise<TransportPipe> {
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  const path = checkPlatform(url) ?? parseUrl(url);
  if (path instanceof SPError) return Promise.reject(path);
  const href = url.href;
  return dialStream(
    {
      target: href,
      open: () => connect({ path }),
      ready: "connect",
      phase: "connect",
      // nng names both ends of an ipc pipe by the path.
      addresses: () => ({ local: href, remote: href }),
      ipc: true,
    },
    opts,
  );
}

async function listen(
  url: URL,
  opts: TransportOptions,
  accept: (pipe: TransportPipe) => void,
  refused: (err: SPError, remoteAddress: string) => void,
): Promise<TransportListener> {
  const path = checkPlatform(url) ?? parseUrl(url);
  if (path instanceof SPError) throw path;
  if (opts.signal?.aborted) throw opts.signal.reason;
  const href = url.href;

  await clearStaleSocket(path, href);

  const server: Server = createServer();
  const stop = serveStream(server, { ipc: true, addresses: () => ({ local: href, remote: href }) }, opts, accept, refused);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(fromErrno(err, "EADDRINVAL", `cannot listen on ${href}`));
    server.once("error", onError);
    server.listen({ path }, () => {
      server.removeListener("error", onError);
      resolve();
    });
  });
  server.on("error", (err: Error) => refused(fromErrno(err, "ECONNRESET", `${href}: accept failed`), "?"));
  let ino: number | undefined;
  try {
    ino = (await lstat(path)).ino;
  } catch (err) {
    server.close();
    stop(new SPError("ECLOSED", `listener ${href} closed`));
    throw fromErrno(err, "EADDRINVAL", `cannot listen on ${href}: the socket file vanished after bind`);
  }

  let closed = false;
  return {
    url: href,
    close: async () => {
      if (closed) return;
      closed = true;
      // Stop accepting. Accepted pipes belong to their sockets, which close them.
      server.close();
      stop(new SPError("ECLOSED", `listener ${href} closed`));
      await new Promise<void>((r) => setImmediate(r));
      await removeSocketFile(path, ino);
    },
  };
}

/**
 * The ipc:// transport: SP over Unix domain sockets, nng- and
 * nanomsg-compatible (sp-wire.md 4).
 *
 * @example
 * const rep = new Rep({ transports: [ipcTransport()] });
 * await rep.listen("ipc:///tmp/rep.ipc");
 * const req = new Req({ transports: [ipcTransport()] });
 * await req.dial("ipc:///tmp/rep.ipc");
 */
export function ipcTransport(): Transport {
  return { schemes: ["ipc"], dial, listen };
}
