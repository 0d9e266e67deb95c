/** Test helpers for core: sockets joined in memory, quiet logs, bounded waits. */
import { inprocTransport, silentLogger, type Transport, type Logger } from "../src/index.js";

let n = 0;
/** A fresh in-memory namespace and a unique address in it. */
export function mem(highWaterMark?: number): { o: { transports: Transport[]; logger: Logger }; url: string } {
  return { o: { transports: [inprocTransport({ highWaterMark })], logger: silentLogger }, url: `inproc://t${++n}` };
}

/** Poll until cond() holds (bounded); not a timing assertion. */
export async function until(cond: () => boolean, what: string, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

export const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/*
 * Byte helpers in plain Uint8Array/DataView/TextDecoder (no Buffer), so these
 * tests also run in a browser (e2e/core-in-browser.test.ts).
 */

/** Lower-case hex of the bytes, e.g. "0000002a". */
export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** The `i`th big-endian 32-bit word of the bytes (byte offset 4 * i), unsigned. */
export const word = (b: Uint8Array, i = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(i * 4);

/** The bytes decoded as UTF-8. */
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * A page's `online` and `visibilitychange` events for dialers that listen for
 * them: in Node a stand-in EventTarget plays `globalThis` and `document`; in
 * Chromium the real window and document are used and only
 * `document.visibilityState` is faked. The events are real dispatches.
 */
export interface FakePage {
  /** Fire `online` on globalThis. */
  online(): void;
  /** Set document.visibilityState and fire `visibilitychange` on document. */
  show(state: "visible" | "hidden"): void;
  /** `online` and `visibilitychange` listeners added and not removed since the page was made. */
  listeners(): number;
  /** Put globalThis and document back as they were. */
  restore(): void;
}

export function fakePage(): FakePage {
  const g = globalThis as unknown as Record<string, unknown>;
  /** Own properties this page defined; deleted again by restore(). */
  const defined: [object, string][] = [];
  const define = (o: object, key: string, desc: PropertyDescriptor): void => {
    Object.defineProperty(o, key, { configurable: true, ...desc });
    defined.push([o, key]);
  };
  if (typeof g.addEventListener !== "function") {
    const et = new EventTarget();
    for (const k of ["addEventListener", "removeEventListener", "dispatchEvent"] as const) {
      define(g, k, { value: et[k].bind(et), writable: true });
    }
  }
  if (typeof g.document !== "object" || g.document === null) define(g, "document", { value: new EventTarget(), writable: true });
  const win = g as unknown as EventTarget;
  const doc = g.document as EventTarget;

  let listeners = 0;
  const watched = (type: string): boolean => type === "online" || type === "visibilitychange";
  for (const t of [win, doc]) {
    const add = t.addEventListener;
    const remove = t.removeEventListener;
    define(t, "addEventListener", {
      value: (type: string, fn: EventListener, o?: AddEventListenerOptions) => {
        if (watched(type)) listeners++;
        add.call(t, type, fn, o);
      },
    });
    define(t, "removeEventListener", {
      value: (type: string, fn: EventListener, o?: EventListenerOptions) => {
        if (watched(type)) listeners--;
        remove.call(t, type, fn, o);
      },
    });
  }
  let visibility = "visible";
  define(doc, "visibilityState", { get: () => visibility });

  return {
    online: () => void win.dispatchEvent(new Event("online")),
    show: (state) => {
      visibility = state;
      doc.dispatchEvent(new Event("visibilitychange"));
    },
    listeners: () => listeners,
    restore: () => {
      for (const [o, key] of defined.reverse()) delete (o as Record<string, unknown>)[key];
    },
  };
}
