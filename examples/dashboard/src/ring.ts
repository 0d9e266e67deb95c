/**
 * The data behind one chart: a fixed-capacity ring of time-stamped rows, one
 * column per series (host). Memory is bounded whatever the message rate: the
 * oldest row is overwritten once the ring is full, and a chart shows at most
 * the last `windowSec` seconds of it.
 *
 * Rows are keyed by the sample time: values stamped with the same time (the
 * feed stamps every host of one tick alike) share a row; a host without a
 * value in a row is a gap that the chart bridges. Times that go backwards
 * (another publisher's clock, a late message) join the newest row, so x stays
 * sorted, which uPlot requires.
 */
import type uPlot from "uplot";

export class SeriesRing {
  readonly capacity: number;
  readonly windowSec: number;
  /** Series names in column order. */
  readonly names: string[] = [];
  #maxSeries: number;
  #x: Float64Array;
  /** One column per series; NaN marks "no value in this row". */
  #cols: Float64Array[] = [];
  #index = new Map<string, number>();
  /** Slot of the oldest row, and how many rows are live. */
  #head = 0;
  #size = 0;
  /** Reused for every snapshot: uPlot reads these, the ring refills them. */
  #outX: number[] = [];
  #outCols: (number | null)[][] = [];
  /** Values dropped because `maxSeries` names were already taken. */
  ignored = 0;

  constructor(opts: { capacity: number; windowSec: number; maxSeries: number }) {
    this.capacity = opts.capacity;
    this.windowSec = opts.windowSec;
    this.#maxSeries = opts.maxSeries;
    this.#x = new Float64Array(opts.capacity);
  }

  /**
   * Record `value` for series `name` at `tSec` (seconds, fractions allowed).
   * Returns true when `name` is a new series (the chart must add it).
   */
  put(name: string, tSec: number, value: number): boolean {
    let col = this.#index.get(name);
    let added = false;
    if (col === undefined) {
      if (this.names.length >= this.#maxSeries) {
        this.ignored++;
        return false;
      }
      col = this.names.length;
      this.names.push(name);
      this.#index.set(name, col);
      this.#cols.push(new Float64Array(this.capacity).fill(NaN));
      this.#outCols.push([]);
      added = true;
    }
    const last = this.#size === 0 ? -1 : (this.#head + this.#size - 1) % this.capacity;
    let slot = last;
    if (last < 0 || tSec > this.#x[last]!) {
      if (this.#size < this.capacity) {
        slot = (this.#head + this.#size) % this.capacity;
        this.#size++;
      } else {
        slot = this.#head;
        this.#head = (this.#head + 1) % this.capacity;
      }
      this.#x[slot] = tSec;
      for (const c of this.#cols) c[slot] = NaN;
    }
    this.#cols[col]![slot] = value;
    return added;
  }

  /** The rows of the last `windowSec` seconds, oldest first, as uPlot's aligned data (arrays reused between calls). */
  snapshot(): uPlot.AlignedData {
    const cap = this.capacity;
    const x = this.#outX;
    let first = 0;
    if (this.#size > 0) {
      const newest = this.#x[(this.#head + this.#size - 1) % cap]!;
      // Rows are sorted, so skip the old ones from the front.
      while (first < this.#size - 1 && this.#x[(this.#head + first) % cap]! < newest - this.windowSec) first++;
    }
    const n = this.#size - first;
    x.length = n;
    for (const out of this.#outCols) out.length = n;
    for (let i = 0; i < n; i++) {
      const slot = (this.#head + first + i) % cap;
      x[i] = this.#x[slot]!;
      for (let c = 0; c < this.#cols.length; c++) {
        const v = this.#cols[c]![slot]!;
        this.#outCols[c]![i] = Number.isNaN(v) ? null : v;
      }
    }
    return [x, ...this.#outCols];
  }
}
