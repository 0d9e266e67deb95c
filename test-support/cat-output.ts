/**
 * Reading what nngcat (nng 1.5.2) and nanocat (nanomsg 1.1.5) print with
 * `--hex`: one message per line, `"` + every byte as `\xNN` + `"` + newline
 * (both programs write the same bytes). Unlike `--ascii` (nngcat writes no
 * separator) and `--quoted` (escapes to undo), this format is unambiguous:
 * each line is exactly one message body, byte for byte. Test-only.
 */

const LINE = /^"((?:\\x[0-9a-f]{2})*)"$/;

/**
 * The message bodies in `out`, in order. Only complete lines count (a line
 * still being written is left for the next read); a line in any other shape
 * throws, so a peer printing something unexpected fails the test loudly.
 */
export function parseHexLines(out: Buffer | string): Buffer[] {
  const text = typeof out === "string" ? out : out.toString("latin1");
  const lines = text.split("\n");
  lines.pop(); // after the last newline: empty, or a line not finished yet
  return lines.map((line) => {
    const m = LINE.exec(line);
    if (m === null) throw new Error(`not a --hex line: ${JSON.stringify(line)}`);
    return Buffer.from(m[1]!.replace(/\\x/g, ""), "hex");
  });
}

/** `bytes` as nngcat --hex prints it (without the newline), for messages in assertions. */
export function hexQuoted(bytes: Uint8Array): string {
  return `"${Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}"`;
}
