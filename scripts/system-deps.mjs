#!/usr/bin/env node
/**
 * Make sure the system programs the test suite runs against are installed:
 * the real SP peers (nngcat from Debian's nng-utils, nanocat from
 * nanomsg-utils), a real browser (Debian's chromium; the browser tests
 * never download one) and nginx (a load balancer in front of gateways).
 * Run by `npm test` (the `pretest` script).
 *
 * - Everything present: one line, exit 0, no apt call.
 * - Something missing, running as root with apt-get: `apt-get update` once,
 *   then one `apt-get install` of the missing packages.
 * - Something missing otherwise: say which packages and the command that
 *   installs them, and exit 1.
 * - SPWIRE_SKIP_SYSTEM_DEPS=1: do nothing (the tests that need a missing
 *   program will then fail on their own).
 *
 * Node built-ins only: this runs before `npm run build`.
 */
import { accessSync, constants } from "node:fs";
import { spawnSync } from "node:child_process";
import { delimiter, join } from "node:path";

/** One line per program: where the tests expect it, the Debian package that ships it, and why the tests need it. */
const REQUIRED = [
  { path: "/usr/bin/nngcat", pkg: "nng-utils", why: "interop tests talk to the real nng peer" },
  { path: "/usr/bin/nanocat", pkg: "nanomsg-utils", why: "interop tests talk to the real nanomsg peer" },
  { path: "/usr/bin/chromium", pkg: "chromium", why: "browser tests run core in real Chromium" },
  { path: "/usr/sbin/nginx", pkg: "nginx", why: "the load-balancer test runs two gateways behind a real nginx" },
];

const tag = "system-deps:";

if (process.env.SPWIRE_SKIP_SYSTEM_DEPS === "1") {
  console.log(`${tag} skipped (SPWIRE_SKIP_SYSTEM_DEPS=1)`);
  process.exit(0);
}

const missing = REQUIRED.filter((r) => !isExecutable(r.path));
if (missing.length === 0) {
  console.log(`${tag} ok: ${REQUIRED.map((r) => `${r.path} (${r.pkg})`).join(", ")}`);
  process.exit(0);
}

const pkgs = missing.map((r) => r.pkg);
const installArgs = ["install", "-y", "--no-install-recommends", ...pkgs];
for (const r of missing) console.log(`${tag} missing ${r.path}: ${r.why}; it comes with the Debian package ${r.pkg}`);

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const aptGet = findOnPath("apt-get");

if (!isRoot || !aptGet) {
  const why = !aptGet ? "apt-get was not found on PATH" : "this is not running as root";
  const sudo = aptGet ? "sudo " : "";
  console.error(
    [
      `${tag} cannot install ${pkgs.join(" ")}: ${why}.`,
      aptGet
        ? `Install them with:\n\n  ${sudo}apt-get update && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get ${installArgs.join(" ")}\n`
        : `On Debian or Ubuntu, as root:\n\n  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get ${installArgs.join(" ")}\n\n` +
          `Elsewhere install the equivalents of ${pkgs.join(", ")} so that ${missing.map((r) => r.path).join(", ")} exist.`,
      `To run the tests without this check: SPWIRE_SKIP_SYSTEM_DEPS=1 npm test (the tests that need them will fail).`,
    ].join("\n"),
  );
  process.exit(1);
}

const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
console.log(`${tag} running as root with apt-get: installing ${pkgs.join(" ")}`);
run(["update"]);
// Wait for a dpkg lock held by another apt (e.g. unattended-upgrades on a fresh machine) instead of failing at once.
run(["-o", "DPkg::Lock::Timeout=300", ...installArgs]);

const still = missing.filter((r) => !isExecutable(r.path));
if (still.length > 0) {
  console.error(`${tag} apt-get finished but these are still missing: ${still.map((r) => `${r.path} (${r.pkg})`).join(", ")}`);
  process.exit(1);
}
console.log(`${tag} installed ${pkgs.join(" ")}`);

/** Run apt-get with `args`, output passed through; exit 1 with the command line if it fails. */
function run(args) {
  console.log(`${tag} $ apt-get ${args.join(" ")}`);
  const r = spawnSync(aptGet, args, { stdio: ["ignore", "inherit", "inherit"], env });
  if (r.error || r.status !== 0) {
    const how = r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit code ${r.status}`;
    console.error(`${tag} apt-get ${args.join(" ")} failed (${how})`);
    process.exit(1);
  }
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    // Absent or not executable: both mean "missing" here.
    return false;
  }
}

function findOnPath(cmd) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}
