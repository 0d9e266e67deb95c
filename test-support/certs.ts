/**
 * Throwaway TLS material for tests, made at test time with the openssl CLI
 * (never checked in, so nothing expires in the repository). Test-only.
 *
 * Two chains, both for the name 127.0.0.1:
 * - `ca` signs `cert` (the server certificate): a dialer that trusts `ca`
 *   verifies the listener with checks on.
 * - `selfSigned` is its own issuer: what a dialer without `insecure` must
 *   refuse ("self-signed certificate").
 *
 * The server certificates name 127.0.0.1 twice in subjectAltName, as an IP
 * and as a DNS name: Node checks IP SANs for an IP host, while nng 1.5.2's
 * mbedTLS 2.x compares the URL host only with DNS names.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One certificate and its key, as PEM text and as files (for nngcat --cert/--key/--cacert). */
export interface PemPair {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

export interface TestCerts {
  /** The directory holding every file; `remove()` deletes it. */
  dir: string;
  /** The test CA: trust anchor for `server`. */
  ca: PemPair;
  /** Server certificate for 127.0.0.1, signed by `ca`. */
  server: PemPair;
  /** A self-signed certificate for 127.0.0.1 (made with exactly the one-line `openssl req -x509` recipe). */
  selfSigned: PemPair;
  remove(): void;
}

const SAN = "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost";
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args[0]} failed (is the openssl CLI installed?): ${stderr || String(err)}`, { cause: err });
  }
}

function pair(dir: string, name: string): PemPair {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), certPath, keyPath };
}

/**
 * Make a CA, a server certificate it signed, and a self-signed certificate,
 * all valid for two days, in a fresh temporary directory.
 *
 * @example
 * const certs = createTestCerts();
 * after(() => certs.remove());
 * await rep.listen("tls+tcp://127.0.0.1:0", { cert: certs.server.cert, key: certs.server.key });
 * await req.dial(url, { ca: certs.ca.cert });
 */
export function createTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "spwire-certs-"));
  try {
    openssl(
      [
        "req", "-x509", ...EC, "-days", "2", "-subj", "/CN=spwire test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.pem",
      ],
      dir,
    );
    openssl(["req", "-new", ...EC, "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"], dir);
    writeFileSync(
      join(dir, "server.ext"),
      `${SAN}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
    );
    openssl(
      [
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
      ],
      dir,
    );
    openssl(
      ["req", "-x509", ...EC, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", SAN, "-keyout", "self.key", "-out", "self.pem"],
      dir,
    );
    return {
      dir,
      ca: pair(dir, "ca"),
      server: pair(dir, "server"),
      selfSigned: pair(dir, "self"),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
