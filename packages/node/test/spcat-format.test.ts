/**
 * spcat's output formats against bytes captured from Debian's nngcat 1.5.2.
 *
 * How the pins were captured: `nngcat --rep0 --listen tcp://127.0.0.1:P
 * --file F --count 1` answered `nngcat --req0 --dial ... --data x --format
 * <fmt>`, and the req's stdout was saved. F was the 256 byte values 0x00..0xff
 * in order (pinned below in full), and, for the size boundaries, n bytes of
 * (i*7+3) & 255 for n in 0, 1, 255, 65535, 65536 (pinned by length and
 * SHA-256).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ascii, formatMessage, formatNames, hex, msgpack, quoted, raw } from "../src/cli/format.js";

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1");
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255);

// nngcat --ascii of 0x00..0xff: 32 dots, 0x20..0x7e as is, 129 dots; no newline.
const ASCII_ALL = ".".repeat(32) + String.fromCharCode(...Array.from({ length: 95 }, (_, i) => 0x20 + i)) + ".".repeat(129);

// nngcat --quoted of 0x00..0xff, verbatim (a JS string; every backslash here is one byte).
const QUOTED_ALL =
  String.raw`"\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_` +
  "`" +
  String.raw`abcdefghijklmnopqrstuvwxyz{|}~\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff"` +
  "\n";

// nngcat --hex of 0x00..0xff: "\x00\x01...\xff" and a newline.
const HEX_ALL = '"' + Array.from(allBytes, (b) => "\\x" + b.toString(16).padStart(2, "0")).join("") + '"\n';

// SHA-256 of each captured file, so the whole 256-entry outputs above are also checked as nngcat wrote them.
const CAPTURED_ALL_SHA256: Record<string, string> = {
  ascii: "f029afd907a1d38134fbfb9fa470369d6f9e3fec3734f62b2a287407b6fe208e",
  quoted: "5a7750bb5720dd621ec8fd2293286791157637de8409b2db3803660c850c25b8",
  hex: "ebafc1e15466e4cabaa8f597a5935323c999b804afec615d61b8c0ca482cc3f0",
  msgpack: "65e5320fe7b4f02bdaba66bc8643fa74abbb3203e85dc32a1a8b70e4723f5b03",
};

// [body length, format, stdout length, stdout SHA-256] as nngcat 1.5.2 wrote them.
const CAPTURED_SIZES: Array<[number, string, number, string]> = [
  [0, "ascii", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  [0, "quoted", 3, "bd85bcdb8d4e613a79cb62d0903946ad10c83e63dc75f67614c159c0dbf4d184"],
  [0, "hex", 3, "bd85bcdb8d4e613a79cb62d0903946ad10c83e63dc75f67614c159c0dbf4d184"],
  [0, "raw", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  [0, "msgpack", 2, "6f2013565ba20b1a3247080cb8b2ec85189d499eb46adc089b4c01a122ec4397"],
  [1, "ascii", 1, "cdb4ee2aea69cc6a83331bbe96dc2caa9a299d21329efb0336fc02a82e1839a8"],
  [1, "quoted", 7, "bf10e620918444b8305fcc1d2974e8d89ef4667064760df853c7646d1f81f734"],
  [1, "hex", 7, "bf10e620918444b8305fcc1d2974e8d89ef4667064760df853c7646d1f81f734"],
  [1, "raw", 1, "084fed08b978af4d7d196a7446a86b58009e636b611db16211b65a9aadff29c5"],
  [1, "msgpack", 3, "411c47789ed3a95d8e922e5a4b872288833f2683b42965f1961622de2f1e89a6"],
  [255, "ascii", 255, "460fc3c1b8d7887eb2e68106bc083b5f3c6c7ec36924fc7c4bbf688c17d0e955"],
  [255, "quoted", 734, "7aa89cf2e82c5d963e028645682efadba8332aa16272ab9e3456cdb8bceb2712"],
  [255, "hex", 1023, "57f56365d10be4b0652c80a08fac128fddef4f1ae8fd9db5641b9a6b38db83a5"],
  [255, "raw", 255, "3c8af6e36699077166f180b277f93992e354c66a63a3541ef18d61524eac85e9"],
  [255, "msgpack", 257, "40842614cd25bd1bbfc1bd7eab886486da0b87af644147ea407cfd86eceb127a"],
  [65535, "ascii", 65535, "9f3acf10b82a4107deed15545faae48c77b1ea42ce5ab7d7167dbfe6d5ea95ae"],
  [65535, "quoted", 188159, "812e48ac521db144ad911c851370fb6ec9d02b88c4641740ec69c54d4190421b"],
  [65535, "hex", 262143, "ccc1ab0bb0c12996490dfa3e7f07f5582de4f87bd57ca73d8a5b463f15714e53"],
  [65535, "raw", 65535, "feaacf5dfeada48ff99357abd0998dd8b350c8b0603a81f573cf3ea577885f99"],
  [65535, "msgpack", 65538, "308f96222b8487641a9135c0c7aea35ed6abcb6cb6c088feb0f1ed220ec0dddc"],
  [65536, "ascii", 65536, "2a8dee987600d9e425cf919ac5e54b10e166b41378b749717cf408047d24ae9d"],
  [65536, "quoted", 188163, "6e9351813c2534a304cee266e10c358131c59495ffa7434746757ae3b534114a"],
  [65536, "hex", 262147, "a7187ffd17f0de21aae70d45ccb39b297b0e9bf1d21a208a2c163a756ac7d1f4"],
  [65536, "raw", 65536, "510b126e1d4ced49107fe4ab03ee54cb1c8e4caf6064e1dd29c48d4a3e74c38b"],
  [65536, "msgpack", 65541, "ae4de91718b96663edf2a30406e1b11d3ce3f5ffa67ea7cbda35f13980d6aac5"],
];

test("the pinned 256-byte outputs are the files nngcat wrote", () => {
  const enc = (s: string): Buffer => Buffer.from(s, "latin1");
  assert.equal(sha256(enc(ASCII_ALL)), CAPTURED_ALL_SHA256.ascii);
  assert.equal(sha256(enc(QUOTED_ALL)), CAPTURED_ALL_SHA256.quoted);
  assert.equal(sha256(enc(HEX_ALL)), CAPTURED_ALL_SHA256.hex);
});

test("ascii keeps 0x20..0x7e, prints every other byte of 0x00..0xff as '.', and adds no newline", () => {
  assert.equal(text(ascii(allBytes)), ASCII_ALL);
});

test("quoted escapes only \\t \\n \\r \\\" \\\\ by name and every other unprintable byte as lowercase \\xNN", () => {
  assert.equal(text(quoted(allBytes)), QUOTED_ALL);
});

test("hex writes all 256 byte values as \\xNN inside quotes, then a newline", () => {
  assert.equal(text(hex(allBytes)), HEX_ALL);
});

test("raw writes all 256 byte values unchanged", () => {
  assert.deepEqual(raw(allBytes), allBytes);
});

test("msgpack frames 256 bytes as bin 16 (c5 01 00) followed by the body", () => {
  const out = msgpack(allBytes);
  assert.equal(sha256(out), CAPTURED_ALL_SHA256.msgpack);
  assert.deepEqual(out.subarray(0, 3), Uint8Array.of(0xc5, 0x01, 0x00));
  assert.deepEqual(out.subarray(3), allBytes);
});

test("msgpack switches bin 8 -> bin 16 -> bin 32 at 256 and 65536 bytes", () => {
  assert.deepEqual(msgpack(new Uint8Array(0)), Uint8Array.of(0xc4, 0x00));
  assert.deepEqual(msgpack(pattern(255)).subarray(0, 2), Uint8Array.of(0xc4, 0xff));
  assert.deepEqual(msgpack(pattern(256)).subarray(0, 3), Uint8Array.of(0xc5, 0x01, 0x00));
  assert.deepEqual(msgpack(pattern(65535)).subarray(0, 3), Uint8Array.of(0xc5, 0xff, 0xff));
  assert.deepEqual(msgpack(pattern(65536)).subarray(0, 5), Uint8Array.of(0xc6, 0x00, 0x01, 0x00, 0x00));
});

test("an empty message prints nothing in ascii and raw, and \"\" plus a newline in quoted and hex", () => {
  const empty = new Uint8Array(0);
  assert.equal(ascii(empty).length, 0);
  assert.equal(raw(empty).length, 0);
  assert.equal(text(quoted(empty)), '""\n');
  assert.equal(text(hex(empty)), '""\n');
});

for (const [n, fmt, len, digest] of CAPTURED_SIZES) {
  test(`${fmt} of a ${n}-byte message matches nngcat's ${len}-byte output`, () => {
    const out = formatMessage(fmt as (typeof formatNames)[number], pattern(n));
    assert.equal(out.length, len);
    assert.equal(sha256(out), digest);
  });
}

test("no format and --format no both print nothing for any body", () => {
  assert.equal(formatMessage(undefined, allBytes).length, 0);
  assert.equal(formatMessage("no", allBytes).length, 0);
});

test("every format name nngcat's --format accepts has a formatter", () => {
  assert.deepEqual([...formatNames].sort(), ["ascii", "hex", "msgpack", "no", "quoted", "raw"]);
  for (const f of formatNames) assert.ok(formatMessage(f, allBytes) instanceof Uint8Array);
});
