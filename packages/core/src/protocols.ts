/**
 * The one table of SP protocol ids and WebSocket subprotocol names
 * (sp-protocol-ids-01; verified against nngcat 1.5.2 and nanocat 1.1.5).
 * id = protocol number * 16 + role.
 */
export interface ProtocolInfo {
  /** nng's protocol name: pair (v0), pair1, pub, sub, req, rep, push, pull, surveyor, respondent, bus. */
  readonly name: string;
  /** This socket's 16-bit protocol id. */
  readonly id: number;
  /** The id this socket accepts from its peer. */
  readonly peerId: number;
  /** The peer's name. */
  readonly peerName: string;
}

const table: Array<[string, number, string, number]> = [
  ["pair", 0x10, "pair", 0x10],
  ["pair1", 0x11, "pair1", 0x11],
  ["pub", 0x20, "sub", 0x21],
  ["sub", 0x21, "pub", 0x20],
  ["req", 0x30, "rep", 0x31],
  ["rep", 0x31, "req", 0x30],
  ["push", 0x50, "pull", 0x51],
  ["pull", 0x51, "push", 0x50],
  ["surveyor", 0x62, "respondent", 0x63],
  ["respondent", 0x63, "surveyor", 0x62],
  ["bus", 0x70, "bus", 0x70],
];

export const protocols: Readonly<Record<string, ProtocolInfo>> = Object.freeze(
  Object.fromEntries(table.map(([name, id, peerName, peerId]) => [name, Object.freeze({ name, id, peerName, peerId })])),
);

/** The WebSocket subprotocol token for a protocol name: `<name>.sp.nanomsg.org`. */
export function wsProtocolName(name: string): string {
  return `${name}.sp.nanomsg.org`;
}
