/**
 * Issue 15 item 8, footprint: an idle edge leaf (JetStream on, mirror bucket and AUDIT stream provisioned, link
 * to the hub up) stays at or under 64 MB resident. The figure is printed.
 */
import t from 'tap';
import { startFleetLab } from './fleet-lab.js';

const LIMIT_BYTES = 64 * 1024 * 1024;

t.test('idle leaf RSS ≤ 64 MB', async (t) => {
  const lab = await startFleetLab({ sites: ['site-a'] });
  t.teardown(() => lab.stop());
  const site = lab.site('site-a');
  t.ok(await site.linkUp(), 'the leaf is linked (not idle because it is cut off)');
  await new Promise((r) => setTimeout(r, 2000)); // idle: let the start-up transients settle
  const rss = await site.rssBytes();
  if (rss === null) return void t.fail('leaf process not found');
  t.comment(`idle leaf RSS: ${(rss / 1024 / 1024).toFixed(1)} MB (pid ${site.pid})`);
  t.ok(rss <= LIMIT_BYTES, `idle leaf RSS ${(rss / 1024 / 1024).toFixed(1)} MB ≤ 64 MB`);
});
