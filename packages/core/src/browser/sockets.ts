/**
 * The browser build's eleven sockets: each is @spwire/core's protocol (the
 * same factory) under the browser shell, with the same verbs as core's class
 * of that name (`subscribe`, `request`, `reply`, `survey`).
 */
import { SPError, type ErrorCode } from "../errors.js";
import { gatewaySubUrl } from "../gateway-query.js";
import type { Data, Message } from "../message.js";
import { checkTime } from "../options.js";
import type { OpOptions } from "../protocol.js";
import { BUS0, PAIR0, PAIR1, PUB0, PULL0, PUSH0, REP0, REQ0, RESPONDENT0, SUB0, SURVEYOR0 } from "../protocols.js";
import { bus0 } from "../protocol/bus0.js";
import { pair0 } from "../protocol/pair0.js";
import { pair1 } from "../protocol/pair1.js";
import { pub0 } from "../protocol/pub0.js";
import { pull0 } from "../protocol/pull0.js";
import { push0 } from "../protocol/push0.js";
import { rep0 } from "../protocol/rep0.js";
import { req0, type Req0 } from "../protocol/req0.js";
import { respondent0 } from "../protocol/respondent0.js";
import type { Responder } from "../protocol/responder.js";
import { sub0, type Sub0 } from "../protocol/sub0.js";
import { surveyor0, type Survey, type SurveyOptions, type Surveyor0 } from "../protocol/surveyor0.js";
import { BrowserSocket, type BrowserDialOptions, type BrowserSocketConfig } from "./socket.js";

const EVERYTHING: readonly Uint8Array[] = [/* @__PURE__ */ new Uint8Array(0)];

function cookedOnly(raw: boolean, verb: string): void {
  if (raw) throw new SPError("ENOTSUP" satisfies ErrorCode, `${verb}() is for cooked sockets; a raw socket uses send/recv`);
}

/**
 * A SUB socket. Subscribe to byte prefixes; the empty prefix matches
 * everything. Dialed with `{ gateway: true }`, the subscriptions travel in
 * the URL and an spwire gateway sends only matching messages; a change
 * redials such dials at once (once per synchronous run of calls).
 *
 * @example
 * const sub = new Sub();
 * sub.subscribe("cpu.");
 * sub.dial("wss://example.com/feed", { gateway: true });
 * for await (const m of sub) console.log(m.text());
 */
export class Sub extends BrowserSocket {
  declare protected readonly proto: Sub0;
  #redialQueued = false;

  constructor(config?: BrowserSocketConfig) {
    super(SUB0, sub0, config, { recvBuffer: 128 });
  }

  /** @internal */
  protected override dialTarget(url: string, opts: BrowserDialOptions): string {
    return opts.gateway === true ? gatewaySubUrl(url, this.raw ? EVERYTHING : this.proto.subscriptions) : url;
  }

  /** Receive messages whose body starts with `prefix` (a string is matched as UTF-8). */
  subscribe(prefix: string | Uint8Array): void {
    if (this.proto.subscribe(prefix)) this.#changed();
  }

  /** Stop receiving `prefix`; throws EINVAL when not subscribed to it. */
  unsubscribe(prefix: string | Uint8Array): void {
    this.proto.unsubscribe(prefix);
    this.#changed();
  }

  #changed(): void {
    if (this.#redialQueued) return;
    this.#redialQueued = true;
    queueMicrotask(() => {
      this.#redialQueued = false;
      if (!this.closed) for (const restart of [...this.restarts]) restart();
    });
  }

  /** The current subscriptions (copies of the prefixes). */
  get subscriptions(): Uint8Array[] {
    return this.proto.subscriptions.map((s) => s.slice());
  }
}

/** A PUB socket: each message goes to every subscriber. */
export class Pub extends BrowserSocket {
  constructor(config?: BrowserSocketConfig) {
    super(PUB0, pub0, config);
  }
}

/**
 * A REQ socket: many requests may be outstanding at once, each with its own id.
 *
 * @example
 * const req = new Req();
 * req.dial("wss://example.com/rpc");
 * const reply = await req.request("status", { timeout: 5000 });
 */
export class Req extends BrowserSocket {
  declare protected readonly proto: Req0;

  constructor(config?: BrowserSocketConfig) {
    super(REQ0, req0, config);
  }

  /** Send one request and wait for its reply (resent after `resendTime`, and at once when its pipe dies). */
  request(data: Data, opts: OpOptions = {}): Promise<Message> {
    try {
      cookedOnly(this.raw, "request");
      if (opts.timeout !== undefined) checkTime("timeout", opts.timeout);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.proto.request(data, opts);
  }
}

/** A REP socket. Answer a request with `reply(request, data)`, in any order. */
export class Rep extends BrowserSocket {
  declare protected readonly proto: Responder;

  constructor(config?: BrowserSocketConfig) {
    super(REP0, rep0, config);
  }

  /** Answer `request` (a message this socket received) on the pipe it came from. */
  reply(request: Message, data: Data): Promise<void> {
    return this.proto.reply(request, data);
  }
}

/** A PUSH socket: each message goes to one pull, round robin; `send()` waits while none can take it. */
export class Push extends BrowserSocket {
  constructor(config?: BrowserSocketConfig) {
    super(PUSH0, push0, config);
  }
}

/** A PULL socket: receives what its push peers send, in arrival order. */
export class Pull extends BrowserSocket {
  constructor(config?: BrowserSocketConfig) {
    super(PULL0, pull0, config);
  }
}

/** A PAIR v0 socket: one peer, messages both ways. */
export class Pair0 extends BrowserSocket {
  constructor(config?: BrowserSocketConfig) {
    super(PAIR0, pair0, config);
  }
}

/** A PAIR v1 socket: one peer, messages both ways, with a hop count. */
export class Pair1 extends BrowserSocket {
  constructor(config?: BrowserSocketConfig) {
    super(PAIR1, pair1, config);
  }
}

/** A BUS socket: each message goes to every directly connected peer. */
export class Bus extends BrowserSocket {
  constructor(config?: BrowserSocketConfig) {
    super(BUS0, bus0, config);
  }
}

/** A SURVEYOR socket: `survey()` asks every respondent and iterates the answers until `surveyTime` is over. */
export class Surveyor extends BrowserSocket {
  declare protected readonly proto: Surveyor0;

  constructor(config?: BrowserSocketConfig) {
    super(SURVEYOR0, surveyor0, config);
  }

  /** Send a survey now and iterate its answers as they come (see @spwire/core's Surveyor). */
  survey(data: Data, opts: SurveyOptions = {}): Survey {
    cookedOnly(this.raw, "survey");
    if (opts.time !== undefined) checkTime("time", opts.time);
    return this.proto.survey(data, opts);
  }
}

/** A RESPONDENT socket: answers surveys with `respond(survey, data)`, in any order, or not at all. */
export class Respondent extends BrowserSocket {
  declare protected readonly proto: Responder;

  constructor(config?: BrowserSocketConfig) {
    super(RESPONDENT0, respondent0, config);
  }

  /** Answer `survey` (a message this socket received) on the pipe it came from. */
  respond(survey: Message, data: Data): Promise<void> {
    return this.proto.reply(survey, data);
  }
}
