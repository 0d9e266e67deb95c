/** Small statistics for bench results: medians, percentiles, pairwise ratios. */

/** The median of `xs` (mean of the two middle values for an even count); NaN for none. */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** The p-th percentile (0..100) of `xs`, nearest rank. */
export function percentile(xs, p) {
  const v = [...xs].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const rank = Math.min(v.length, Math.max(1, Math.ceil((p / 100) * v.length)));
  return v[rank - 1];
}

/** { median, min, max, values } of finite `xs`. */
export function summary(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  return { median: median(v), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, values: xs };
}

/**
 * Rep-by-rep comparison of `a` with `b`: "ratio" is a[i] / b[i], "diff" is
 * a[i] - b[i]; summarised by the median (and min, max) of those values.
 */
export function pairwise(a, b, kind = "ratio") {
  const n = Math.min(a.length, b.length);
  const vals = [];
  for (let i = 0; i < n; i++) vals.push(kind === "diff" ? a[i] - b[i] : a[i] / b[i]);
  return summary(vals);
}

/** Does `value` meet `target` ({ op: ">=" | "<=", value })? */
export function meets(value, target) {
  if (target === undefined || !Number.isFinite(value)) return undefined;
  return target.op === ">=" ? value >= target.value : value <= target.value;
}
