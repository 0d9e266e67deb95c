/**
 * spcat against Debian's real nngcat (nng 1.5.2): the same exchange is run
 * twice, once with nngcat and once with spcat in the role under test, against
 * a fresh real nngcat peer each time. Asserted: the stdout bytes of both
 * sides and both exit codes are identical (and stderr where nngcat writes a
 * diagnostic). Only 127.0.0.1; every process is bounded by --count,
 * --recv-timeout or --send-timeout, and by a watchdog that fails the test.
 *
 * The argument-error table runs nngcat as a process and spcat's parser
 * in-process (it exits before any socket exists, so that is the same code
 * path spcat's main takes), which keeps fifty cases fast.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startPeer, waitForPort, type Peer } from "../../../test-support/peers.js";
import { parseCommandLine, UsageError } from "../src/cli/args.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const spcatEntry = fileURLToPath(new URL("../src/cli/spcat.ts", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "spcat-interop-"));
const allBytesFile = join(work, "all.bin");
writeFileSync(allBytesFile, Uint8Array.from({ length: 256 }, (_, i) => i));

const running: Peer[] = [];
after(() => {
  for (const p of running) p.kill();
  rmSync(work, { recursive: true, force: true });
});

type Kind = "nngcat" | "spcat";
const kinds: readonly Kind[] = ["nngcat", "spcat"];

/** Start nngcat, or spcat from source (the way the README tells contributors to run it). */
function cat(kind: Kind, args: string[]): Peer {
  const p =
    kind === "nngcat"
      ? startPeer("nngcat", args)
      : startPeer(process.execPath, ["--conditions=source", "--import", "tsx", spcatEntry, ...args], { cwd: root });
  running.push(p);
  return p;
}

const WATCHDOG_MS = 30_000;

/** The exit code, or a failure if the process outlives the watchdog (then it is killed). */
async function exitOf(p: Peer, what: string): Promise<number | string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.kill();
      reject(new Error(`${what} did not exit within ${WATCHDOG_MS} ms; stderr: ${p.stderr()}`));
    }, WATCHDOG_MS);
  });
  try {
    return await Promise.race([p.exited, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

interface Outcome {
  stdout: string; // latin1, so every byte is one char and a mismatch shows where
  stderr: string;
  code: number | string;
}

async function outcome(p: Peer, what: string): Promise<Outcome> {
  const code = await exitOf(p, what);
  return { stdout: p.stdout().toString("latin1"), stderr: p.stderr(), code };
}

async function endpoint(scheme: "tcp" | "ws"): Promise<{ url: string; port: number }> {
  const port = await freePort();
  // nng checks the ws Host header against its listen host: the same literal on both sides.
  return { port, url: scheme === "tcp" ? `tcp://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/spcat` };
}

/**
 * One exchange: the process under test (`kind`) and a real nngcat peer.
 * Whichever side listens starts first; the other starts once the port
 * accepts connections.
 */
async function exchange(
  kind: Kind,
  scheme: "tcp" | "ws",
  build: (url: string) => { subject: string[]; peer: string[]; subjectListens: boolean },
): Promise<{ subject: Outcome; peer: Outcome }> {
  const { url, port } = await endpoint(scheme);
  // Each run gets its own port; where a URL is printed (-v), compare it as "<url>".
  const generic = (o: Outcome): Outcome => ({ ...o, stdout: o.stdout.split(url).join("<url>"), stderr: o.stderr.split(url).join("<url>") });
  const { subject, peer, subjectListens } = build(url);
  let s: Peer;
  let p: Peer;
  if (subjectListens) {
    s = cat(kind, subject);
    await waitForPort(port);
    p = cat("nngcat", peer);
  } else {
    p = cat("nngcat", peer);
    await waitForPort(port);
    s = cat(kind, subject);
  }
  const [so, po] = await Promise.all([outcome(s, `${kind} ${subject.join(" ")}`), outcome(p, `nngcat ${peer.join(" ")}`)]);
  return { subject: generic(so), peer: generic(po) };
}

/** Run the same exchange with nngcat and then spcat as the subject; assert both sides saw and did the same. */
async function sameAsNngcat(
  scheme: "tcp" | "ws",
  build: (url: string) => { subject: string[]; peer: string[]; subjectListens: boolean },
  expectStdout?: string,
): Promise<void> {
  const ref = await exchange("nngcat", scheme, build);
  const ours = await exchange("spcat", scheme, build);
  if (expectStdout !== undefined) assert.equal(ref.subject.stdout, expectStdout, "nngcat itself behaved as this test assumes");
  assert.equal(ours.subject.stdout, ref.subject.stdout, `subject stdout differs; spcat stderr: ${ours.subject.stderr}`);
  assert.equal(ours.subject.code, ref.subject.code, `subject exit code differs; spcat stderr: ${ours.subject.stderr}`);
  // With -v spcat adds spwire's own log lines on stderr; stdout stays nngcat's.
  const verbose = build("x").subject.some((a) => a === "-v" || a === "--verbose");
  if (!verbose) assert.equal(ours.subject.stderr, ref.subject.stderr, "subject stderr differs");
  assert.equal(ours.peer.stdout, ref.peer.stdout, "the nngcat peer's stdout differs");
  assert.equal(ours.peer.code, ref.peer.code, "the nngcat peer's exit code differs");
}

/** Run one command with nngcat and with spcat, no peer; assert stdout, stderr and exit code are identical. */
async function sameAlone(args: string[], expect?: Partial<Outcome>): Promise<void> {
  const ref = await outcome(cat("nngcat", args), `nngcat ${args.join(" ")}`);
  const ours = await outcome(cat("spcat", args), `spcat ${args.join(" ")}`);
  if (expect !== undefined) {
    for (const [k, v] of Object.entries(expect)) assert.equal(ref[k as keyof Outcome], v, `nngcat's ${k} is not what this test assumes`);
  }
  assert.deepEqual(ours, ref);
}

const formatFlags: Record<string, string[]> = {
  none: [],
  ascii: ["--ascii"],
  quoted: ["-Q"],
  hex: ["--hex"],
  raw: ["--raw"],
  msgpack: ["--format", "msgpack"],
};

describe("spcat and nngcat print the same bytes and exit the same way", { concurrency: 4 }, () => {
  for (const [name, flags] of Object.entries(formatFlags)) {
    test(`req (format ${name}) prints a reply carrying all 256 byte values exactly as nngcat does`, () =>
      sameAsNngcat("tcp", (url) => ({
        subjectListens: false,
        peer: ["--rep0", "--listen", url, "--file", allBytesFile, "--count", "1", "--quoted"],
        subject: ["--req0", "--dial", url, "--data", "hello", ...flags],
      })));
  }

  for (const scheme of ["tcp", "ws"] as const) {
    test(`${scheme}: req dials an nngcat rep and prints the one reply, then exits 0`, () =>
      sameAsNngcat(
        scheme,
        (url) => ({
          subjectListens: false,
          peer: ["--rep0", "--listen", url, "--data", "pong", "--count", "1", "--ascii"],
          subject: ["--req", "--connect", url, "-D", "hello", "--quoted"],
        }),
        '"pong"\n',
      ));

    test(`${scheme}: rep listens, prints nngcat's request, answers it, and exits 0 after --count 1`, () =>
      sameAsNngcat(
        scheme,
        (url) => ({
          subjectListens: true,
          peer: ["--req0", "--dial", url, "--data", "hello\tworld", "--quoted"],
          subject: ["--rep", "--bind", url, "--data", "pong", "--count", "1", "--quoted"],
        }),
        '"hello\\tworld"\n',
      ));

    test(`${scheme}: pub dials an nngcat sub and its --count 3 messages all arrive`, () =>
      sameAsNngcat(scheme, (url) => ({
        subjectListens: false,
        peer: ["--sub0", "--listen", url, "--count", "3", "--hex"],
        subject: ["--pub0", "--dial", url, "--data", "tick", "--count", "3"],
      })));

    test(`${scheme}: sub listens with --subscribe, prints only matching messages, exits 0 at --count`, async () => {
      const run = async (kind: Kind): Promise<{ sub: Outcome; pubs: Outcome[] }> => {
        const { url, port } = await endpoint(scheme);
        const sub = cat(kind, ["--sub0", "--listen", url, "--subscribe", "apple", "--subscribe", "kiwi", "-C", "3", "-A"]);
        await waitForPort(port);
        // One publisher at a time, so the filtered message is known to arrive first.
        const pubs: Outcome[] = [];
        for (const [data, count] of [["zebra", "1"], ["apple pie", "2"], ["kiwi", "1"]] as const) {
          pubs.push(await outcome(cat("nngcat", ["--pub0", "--dial", url, "--data", data, "--count", count]), "nngcat pub"));
        }
        return { sub: await outcome(sub, `${kind} sub`), pubs };
      };
      const ref = await run("nngcat");
      const ours = await run("spcat");
      assert.equal(ref.sub.stdout, "apple pieapple piekiwi", "nngcat itself behaved as this test assumes");
      assert.deepEqual(ours, ref);
    });
  }

  test("req with --interval 1 --count 2 sends twice and prints both replies", () =>
    sameAsNngcat(
      "tcp",
      (url) => ({
        subjectListens: false,
        peer: ["--rep0", "--listen", url, "--data", "pong", "--count", "2", "--ascii"],
        subject: ["--req0", "--dial", url, "--data", "hi", "--interval", "1", "--count", "2", "--quoted"],
      }),
      '"pong"\n"pong"\n',
    ));

  test("pub with --delay 1 --interval 1 --count 2 reaches a sub that stops at --count 2", () =>
    sameAsNngcat("ws", (url) => ({
      subjectListens: false,
      peer: ["--sub0", "--listen", url, "--count", "2", "--quoted"],
      subject: ["--pub0", "--dial", url, "--data", "slow", "-d", "1", "-i", "1", "-C", "2"],
    })));

  test("req whose rep never answers prints nothing and exits 0 at --recv-timeout", () =>
    sameAsNngcat(
      "tcp",
      (url) => ({
        subjectListens: false,
        // A rep without --data only prints requests; it stops at its own recv timeout.
        peer: ["--rep0", "--listen", url, "--recv-timeout", "3", "--ascii"],
        subject: ["--req0", "--dial", url, "--data", "anyone?", "--recv-timeout", "1", "--quoted"],
      }),
      "",
    ));

  test("sub prints what arrived and exits 0 when --recv-timeout passes without more", () =>
    sameAsNngcat(
      "tcp",
      (url) => ({
        subjectListens: true,
        peer: ["--pub0", "--dial", url, "--data", "only once"],
        subject: ["--sub0", "--listen", url, "--recv-timeout", "3", "--quoted"],
      }),
      '"only once"\n',
    ));

  test("sub with --recv-maxsz drops a larger message and still prints a small one", async () => {
    const run = async (kind: Kind): Promise<{ sub: Outcome; pubs: Outcome[] }> => {
      const { url, port } = await endpoint("tcp");
      const sub = cat(kind, ["--sub0", "--listen", url, "-Z4", "--recv-timeout", "3", "--quoted"]);
      await waitForPort(port);
      const pubs: Outcome[] = [];
      for (const data of ["too long", "ok"]) {
        pubs.push(await outcome(cat("nngcat", ["--pub0", "--dial", url, "--data", data]), "nngcat pub"));
      }
      return { sub: await outcome(sub, `${kind} sub`), pubs };
    };
    const ref = await run("nngcat");
    const ours = await run("spcat");
    assert.equal(ref.sub.stdout, '"ok"\n', "nngcat itself behaved as this test assumes");
    assert.deepEqual(ours, ref);
  });

  test("rep with --data fails with 'Receive error: Timed out' (exit 1) at --recv-timeout", async () => {
    const port = await freePort();
    await sameAlone(["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "x", "--recv-timeout", "1"], {
      code: 1,
      stderr: "Receive error: Timed out\n",
    });
  });

  test("rep without --data exits 0 at --recv-timeout", async () => {
    const port = await freePort();
    await sameAlone(["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--recv-timeout", "1", "--ascii"], { code: 0, stdout: "" });
  });

  test("req with no peer fails with 'Send error: Timed out' (exit 1) at --send-timeout", async () => {
    const port = await freePort();
    await sameAlone(["--req0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "x", "--send-timeout", "1"], {
      code: 1,
      stderr: "Send error: Timed out\n",
    });
  });

  for (const scheme of ["tcp", "ws"] as const) {
    test(`${scheme}: a refused dial fails at once with 'Unable to dial on ...: Connection refused' (exit 1)`, async () => {
      const { url } = await endpoint(scheme);
      await sameAlone(["--req0", "--dial", url, "--data", "x", "--ascii"], {
        code: 1,
        stderr: `Unable to dial on ${url}: Connection refused\n`,
      });
    });
  }

  // nng reports some URL problems when it creates the dialer or listener, others when it starts it.
  const badUrls: Array<[string, string, string]> = [
    ["--dial", "localhost:5555", "Unable to create dialer for localhost:5555: Invalid argument"],
    ["--listen", "bogus://127.0.0.1:5555", "Unable to create listener for bogus://127.0.0.1:5555: Not supported"],
    ["--dial", "tcp://127.0.0.1", "Unable to create dialer for tcp://127.0.0.1: Address invalid"],
    ["--dial", "ws://:1/x", "Unable to create dialer for ws://:1/x: Address invalid"],
    ["--dial", "tcp://127.0.0.1:99999", "Unable to dial on tcp://127.0.0.1:99999: Address invalid"],
    ["--listen", "tcp://127.0.0.1:x", "Unable to create listener for tcp://127.0.0.1:x: Address invalid"],
  ];
  for (const [mode, url, line] of badUrls) {
    test(`${mode} ${url} fails with '${line}'`, () => sameAlone(["--sub0", mode, url], { code: 1, stderr: `${line}\n` }));
  }

  test("a listen address in use fails with 'Unable to listen on ...: Address in use'", async () => {
    const { url, port } = await endpoint("tcp");
    const holder = cat("nngcat", ["--sub0", "--listen", url, "--recv-timeout", "20"]);
    await waitForPort(port);
    try {
      await sameAlone(["--sub0", "--listen", url], { code: 1, stderr: `Unable to listen on ${url}: Address in use\n` });
    } finally {
      holder.kill();
    }
  });

  test("-v on a tcp listener prints 'Listening at:' with the port on stdout", async () => {
    const { url } = await endpoint("tcp");
    await sameAlone(["--sub0", "--listen", url, "-v", "--recv-timeout", "1"], { code: 0, stdout: `Listening at: ${url}\n` });
  });

  test("-v on a tcp listener at port 0 prints the port it bound (so only the prefix can be compared)", async () => {
    const args = ["--sub0", "--listen", "tcp://127.0.0.1:0", "--verbose", "--recv-timeout", "1"];
    const ref = await outcome(cat("nngcat", args), "nngcat");
    const ours = await outcome(cat("spcat", args), "spcat");
    const shape = /^Listening at: tcp:\/\/127\.0\.0\.1:([1-9][0-9]*)\n$/;
    assert.match(ref.stdout, shape);
    assert.match(ours.stdout, shape);
    assert.equal(ours.code, ref.code);
  });

  test("-v on a ws listener at port 0 prints the URL as given, port 0 included, like nng 1.5.2", () =>
    sameAlone(["--sub0", "--listen", "ws://127.0.0.1:0/x", "-v", "--recv-timeout", "1"], {
      code: 0,
      stdout: "Listening at: ws://127.0.0.1:0/x\n",
    }));

  test("-v on a dialer prints 'Connected to:' before anything is sent", () =>
    sameAsNngcat(
      "tcp",
      (url) => ({
        subjectListens: false,
        peer: ["--sub0", "--listen", url, "--count", "1", "--ascii"],
        subject: ["--pub0", "--dial", url, "--data", "hi", "-v"],
      }),
      "Connected to: <url>\n",
    ));

  test("--async dials in the background: no dial error, and -q keeps stdout empty", () =>
    sameAlone(["--sub0", "--dial", "tcp://127.0.0.1:1", "--async", "-v", "-q", "--recv-timeout", "1"], { code: 0, stdout: "" }));

  test("--help prints usage on stdout and exits 1 in both", async () => {
    const ref = await outcome(cat("nngcat", ["--help"]), "nngcat");
    const ours = await outcome(cat("spcat", ["--help"]), "spcat");
    assert.equal(ref.code, 1);
    assert.equal(ours.code, 1);
    assert.match(ours.stdout, /^Usage: spcat /);
    assert.equal(ours.stderr, ref.stderr);
  });

  test("a bad option is reported on stderr with exit 1, like nngcat, from the real spcat process", () =>
    sameAlone(["--req0", "--bogus"], { code: 1, stderr: "Option --bogus is invalid.\n" }));
});

describe("spcat's argument errors are nngcat's", () => {
  const U = "tcp://127.0.0.1:1"; // never reached: every case fails before a socket exists
  const dir = work; // a directory: opens, then fails to read
  const cases: string[][] = [
    [],
    ["--foo"],
    ["-y"],
    ["--req0"],
    ["--req0", "--dial"],
    ["--req0", "-D"],
    ["--req0", "--dial", U],
    ["--v"],
    ["--re"],
    ["--s"],
    ["--pu"],
    ["--"],
    ["--=x"],
    ["--req0=1"],
    ["--verbose:yes"],
    ["--sub", "--pub"],
    ["--req", "--rep0"],
    ["--sub", "--dial", U, "--data", "x"],
    ["--sub", "--dial", U, "--interval", "1"],
    ["--sub", "--dial", U, "--data", "x", "--interval", "1"],
    ["--pub", "--dial", U, "--ascii"],
    ["--pub", "--dial", U, "--format", "no"],
    ["--pub", "--dial", U, "--ascii", "--data", "x"],
    ["--pub", "--dial", U],
    ["--req", "--dial", U],
    ["--rep", "--dial", U, "--interval", "1"],
    ["--req", "--dial", U, "--subscribe", "x", "--data", "x"],
    ["--subscribe", "x", "--dial", U],
    ["--dial", U],
    ["--pair", "--dial", U],
    ["--bus0", "--dial", U, "-i", "1"],
    ["--pair1", "--compat", "--dial", U],
    ["--req0", "--async", "--compat", "--dial", U, "-Dx"],
    ["--req0", "--compat", "-C", "1", "--dial", U, "-Dx"],
    ["--req", "--dial", U, "--ascii", "--hex"],
    ["--req", "--dial", U, "-Q", "--format=raw"],
    ["--req", "--dial", U, "--format", "bogus"],
    ["--req", "--dial", U, "--format:"],
    ["--req", "--dial", U, "--data", "x", "-Dy"],
    ["--req", "--dial", U, "--data=x", "--file", allBytesFile],
    ["--req", "--dial", U, "--file", join(work, "missing")],
    ["--req", "--dial", U, "-F", dir],
    ["--req", "--cacert", join(work, "missing")],
    ["--req", "--cacert", allBytesFile, "--cacert", allBytesFile],
    ["--req", "--key", allBytesFile, "--key", allBytesFile],
    ["--req", "-E", allBytesFile, "--cert", allBytesFile],
    ["--req", "--dial", U, "--count", "x"],
    ["--req", "--dial", U, "--count", ""],
    ["--req", "--dial", U, "-C-1"],
    ["--req", "--dial", U, "--delay", "86401"],
    ["--req", "--dial", U, "-i", "99999999x"],
    ["--req", "--dial", U, "--recv-timeout", "1.5"],
    ["--req", "-l", "65537"],
    ["--req", "-Z"],
    ["--req", "--dial", U, "-vq"],
    ["--req0", "stray", "--dial", U],
    ["--req0", "-", "--dial", U],
    ["--foo", "-h"],
  ];

  for (const args of cases) {
    test(`nngcat ${JSON.stringify(args)}`, async () => {
      const ref = await outcome(cat("nngcat", args), "nngcat");
      assert.equal(ref.code, 1, `nngcat did not fail: ${ref.stderr}`);
      assert.equal(ref.stdout, "");
      let ours: string;
      try {
        const cmd = parseCommandLine(args);
        ours = `(no error: ${cmd.kind})`;
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        ours = `${err.message}\n`;
      }
      assert.equal(ours, ref.stderr);
    });
  }

  const helpCases: string[][] = [["-h"], ["--help", "--foo"], ["--req0", "--hel"], ["--dial", U, "-h", "--bogus"]];
  for (const args of helpCases) {
    test(`nngcat ${JSON.stringify(args)} shows help and exits 1, and spcat parses it as help`, async () => {
      const ref = await outcome(cat("nngcat", args), "nngcat");
      assert.equal(ref.code, 1);
      assert.match(ref.stdout, /^Usage: /);
      assert.equal(parseCommandLine(args).kind, "help");
    });
  }

  const accepted: Array<[string[], (c: Extract<ReturnType<typeof parseCommandLine>, { kind: "run" }>["config"]) => void]> = [
    [
      ["--req", "--dial=tcp://a:1", "--data:x y", "-Q"],
      (c) => {
        assert.equal(c.protocol, "req0");
        assert.deepEqual(c.addresses, [{ mode: "dial", url: "tcp://a:1" }]);
        assert.equal(new TextDecoder().decode(c.data), "x y");
        assert.equal(c.format, "quoted");
      },
    ],
    [
      ["--sub", "--listen", "ws://h:1/p", "--recv-t", "5", "-Z0", "--subs", "a", "--subscribe=b"],
      (c) => {
        assert.equal(c.protocol, "sub0");
        assert.equal(c.recvTimeout, 5000);
        assert.equal(c.recvMaxSize, 0x7fffffff);
        assert.deepEqual(c.topics.map((t) => new TextDecoder().decode(t)), ["a", "b"]);
      },
    ],
    [["--sub0", "-l", "7"], (c) => assert.deepEqual(c.topics.map((t) => t.length), [0])],
    [["--pub", "-L", "5555", "-D", "-x", "-i", "2", "-d3"], (c) => {
      assert.deepEqual(c.addresses, [{ mode: "listen", url: "tcp://127.0.0.1:5555" }]);
      assert.equal(new TextDecoder().decode(c.data), "-x");
      assert.equal(c.interval, 2000);
      assert.equal(c.delay, 3000);
    }],
    [["--rep", "-X", "/tmp/s", "-x", "rel"], (c) => {
      assert.deepEqual(c.addresses.map((a) => a.url), ["ipc:////tmp/s", "ipc:///rel"]);
    }],
    [["--req", "--dial", "tcp://a:1", "-D", "x", "--verbose", "--silent"], (c) => assert.equal(c.verbose, false)],
    [["--req", "--dial", "tcp://a:1", "-D", "x", "stray", "--bogus"], (c) => assert.equal(c.format, undefined)],
  ];
  for (const [args, check] of accepted) {
    test(`spcat accepts ${JSON.stringify(args)} as nngcat reads it`, () => {
      const cmd = parseCommandLine(args);
      assert.equal(cmd.kind, "run");
      if (cmd.kind === "run") check(cmd.config);
    });
  }
});
