/**
 * `verigate_request_duration_seconds` kept by us and exposed through prom-client's registry as a custom metric
 * (`registerMetric` + `get`/`getForPromString`, what prom-client's own Histogram provides): the same values,
 * label order and text as a prom-client Histogram with a `device` label (test/unit/latency-histogram.test.ts
 * compares the two), but an observation is a bucket search and three number updates in place. prom-client's
 * `observe` built a label object, a value object and a label-hash string and validated the labels on every
 * request (≈ 1.5 % of the request path's CPU).
 */
import type { Metric, Registry } from 'prom-client';

/** One device's counts: per bucket (not cumulative), sum and count. */
export interface LatencyCell {
  observe(seconds: number): void;
}

class Cell implements LatencyCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly device: string,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${seconds}`);
    const b = this.bounds;
    // the first bucket whose upper bound holds it (prom-client's findBound); above the last: +Inf only
    for (let i = 0; i < b.length; i++)
      if (seconds <= (b[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    this.sum += seconds;
    this.count++;
  }
}

/** One exported value, as prom-client's histogram builds them (same members, same order). */
interface Value {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: undefined;
}

/** What the registry reads (prom-client's typings say `type` is an enum; at run time it is this string). */
interface Exported {
  name: string;
  help: string;
  type: 'histogram';
  values: Value[];
  aggregator: 'sum';
}

export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  #cells = new Map<string, Cell>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registers: readonly Registry[],
  ) {
    this.#bounds = [...buckets].sort((a, b) => a - b);
    for (const r of registers) r.registerMetric(this as unknown as Metric);
  }

  /** The device's cell, to observe into without a lookup per request. */
  labels(device: string): LatencyCell {
    let c = this.#cells.get(device);
    if (c === undefined) this.#cells.set(device, (c = new Cell(device, this.#bounds)));
    return c;
  }

  /** prom-client's signature (the PROFINET record pipeline calls it so). */
  observe(labels: { readonly device: string }, seconds: number): void {
    this.labels(labels.device).observe(seconds);
  }

  reset(): void {
    this.#cells = new Map();
  }

  /** What the registry renders as text: bucket labels `{le}`, the device as a shared label (prom-client's order). */
  getForPromString(): Promise<Exported> {
    const values: Value[] = [];
    for (const c of this.#cells.values()) {
      if (c.count === 0) continue; // a device never observed has no series (as with prom-client)
      const shared = { device: c.device };
      let acc = 0;
      this.#bounds.forEach((le, i) => {
        acc += c.counts[i] as number;
        values.push(pair({ le }, acc, `${this.name}_bucket`, shared));
      });
      values.push(pair({ le: '+Inf' }, c.count, `${this.name}_bucket`, shared));
      values.push(pair({}, c.sum, `${this.name}_sum`, shared));
      values.push(pair({}, c.count, `${this.name}_count`, shared));
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' });
  }

  /** As prom-client's Histogram.get(): the shared label merged into each value's labels. */
  async get(): Promise<Exported> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return data;
  }
}

function pair(
  labels: Record<string, string | number>,
  value: number,
  metricName: string,
  shared: Record<string, string>,
): Value {
  return { labels, sharedLabels: shared, value, metricName, exemplar: undefined };
}
