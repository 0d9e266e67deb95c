/**
 * The one table of SP protocol ids and WebSocket subprotocol names
 * (sp-protocol-ids-01; verified against nngcat 1.5.2 and nanocat 1.1.5).
 * id = protocol number * 16 + role.
 *
 * One constant per protocol, so a page that opens only a Sub carries only
 * the Sub's entry; `protocols` gathers them by name.
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

function info(name: string, id: number, peerName: string, peerId: number): ProtocolInfo {
  return Object.freeze({ name, id, peerName, peerId });
}

export const PAIR0 = /* @__PURE__ */ info("pair", 0x10, "pair", 0x10);
export const PAIR1 = /* @__PURE__ */ info("pair1", 0x11, "pair1", 0x11);
export const PUB0 = /* @__PURE__ */ info("pub", 0x20, "sub", 0x21);
export const SUB0 = /* @__PURE__ */ info("sub", 0x21, "pub", 0x20);
export const REQ0 = /* @__PURE__ */ info("req", 0x30, "rep", 0x31);
export const REP0 = /* @__PURE__ */ info("rep", 0x31, "req", 0x30);
export const PUSH0 = /* @__PURE__ */ info("push", 0x50, "pull", 0x51);
export const PULL0 = /* @__PURE__ */ info("pull", 0x51, "push", 0x50);
export const SURVEYOR0 = /* @__PURE__ */ info("surveyor", 0x62, "respondent", 0x63);
export const RESPONDENT0 = /* @__PURE__ */ info("respondent", 0x63, "surveyor", 0x62);
export const BUS0 = /* @__PURE__ */ info("bus", 0x70, "bus", 0x70);

/** Every protocol, by nng name. */
export const protocols: Readonly<Record<string, ProtocolInfo>> = /* @__PURE__ */ Object.freeze({
  pair: PAIR0,
  pair1: PAIR1,
  pub: PUB0,
  sub: SUB0,
  req: REQ0,
  rep: REP0,
  push: PUSH0,
  pull: PULL0,
  surveyor: SURVEYOR0,
  respondent: RESPONDENT0,
  bus: BUS0,
});

/** The WebSocket subprotocol token for a protocol name: `<name>.sp.nanomsg.org`. */
export function wsProtocolName(name: string): string {
  return `${name}.sp.nanomsg.org`;
}
