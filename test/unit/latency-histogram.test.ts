/**
 * Our request-latency histogram is exposed exactly as prom-client's own Histogram would expose the same
 * observations: same text (the Prometheus scrape) and same JSON, label order included.
 */
import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../../gateway/observability/latency-histogram.js';
import { LATENCY_BUCKETS } from '../../gateway/observability/metrics.js';

const NAME = 'verigate_request_duration_seconds';
const HELP = 'Time from request decoded to response ready, by device';

function pair(): { theirs: Registry; ours: Registry; observe(device: string, s: number): void; h: LatencyHistogram } {
  const theirs = new Registry();
  const ours = new Registry();
  const ref = new Histogram({
    name: NAME,
    help: HELP,
    labelNames: ['device'],
    buckets: [...LATENCY_BUCKETS],
    registers: [theirs],
  });
  const h = new LatencyHistogram(NAME, HELP, LATENCY_BUCKETS, [ours]);
  return {
    theirs,
    ours,
    h,
    observe(device, s) {
      ref.observe({ device }, s);
      if (device === 'plc-b') h.observe({ device }, s);
      else h.labels(device).observe(s);
    },
  };
}

t.test('same text and JSON as prom-client for the same observations', async (t) => {
  const p = pair();
  t.equal(await p.ours.metrics(), await p.theirs.metrics(), 'nothing observed yet');
  for (const s of [0.0001, 0.0002, 0.00021, 0.003, 0.5, 2.5, 7, 0]) p.observe('turbine-1', s);
  for (const s of [0.01, 0.0004]) p.observe('plc-b', s);
  const text = await p.ours.metrics();
  t.equal(text, await p.theirs.metrics());
  t.match(text, /verigate_request_duration_seconds_bucket\{le="0.0002",device="turbine-1"\} 3/);
  t.match(text, /verigate_request_duration_seconds_bucket\{le="\+Inf",device="turbine-1"\} 8/);
  t.same(await p.ours.getMetricsAsJSON(), await p.theirs.getMetricsAsJSON());
  p.theirs.resetMetrics();
  p.ours.resetMetrics();
  t.equal(await p.ours.metrics(), await p.theirs.metrics(), 'after a reset');
});

t.test('a value that is not a number is refused, as by prom-client', async (t) => {
  const p = pair();
  t.throws(() => p.h.labels('x').observe(Number.NaN), TypeError);
  t.equal(await p.ours.metrics(), await p.theirs.metrics());
});
