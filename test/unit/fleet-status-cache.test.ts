/**
 * The centre's status cache holds what gateways say about themselves; names come from the network (a
 * compromised leaf can publish beats for any name under its site), so it keeps only configured sites and at
 * most maxGatewaysPerSite names per site, and says whether a beat was of a new gateway without sorting.
 */
import t from 'tap';
import { StatusCache } from '../../gateway/fleet/status-cache.js';
import { statusSubject } from '../../gateway/fleet/fleet-topology.js';

const beat = (site: string, gateway: string, time = '2026-03-04T10:00:00Z') =>
  Buffer.from(
    JSON.stringify({
      site,
      gateway,
      time,
      policyRevision: 1,
      policyVersion: 'v',
      stalenessSeconds: 0.5,
      sessions: 0,
      audit: { lastSeq: 1, publishedSeq: 1 },
    }),
  );

t.test('only configured sites; at most maxGatewaysPerSite names per site', async (t) => {
  const c = new StatusCache({ sites: ['site-a', 'site-b'], maxGatewaysPerSite: 3 });
  for (let i = 0; i < 50; i++) c.accept(statusSubject('site-a', `gw-${i}`), beat('site-a', `gw-${i}`), 1);
  t.equal(c.accept(statusSubject('site-b', 'gw-1'), beat('site-b', 'gw-1'), 1), 'new', 'another site has its own cap');
  t.equal(c.accept(statusSubject('site-z', 'gw-1'), beat('site-z', 'gw-1'), 1), false, 'a site not configured');
  t.same(
    c.list().map((x) => `${x.beat.site}/${x.beat.gateway}`),
    ['site-a/gw-0', 'site-a/gw-1', 'site-a/gw-2', 'site-b/gw-1'],
  );
  t.equal(c.size, 4);
  t.equal(c.ignored, 48, 'the rest counted as ignored');
  t.equal(c.rejected, 0);
  t.equal(
    c.accept(statusSubject('site-a', 'gw-1'), beat('site-a', 'gw-1', '2026-03-04T10:00:02Z'), 2),
    'updated',
    'a kept gateway is still updated at the cap',
  );
  t.equal(c.list()[1]!.receivedAt, 2);
  t.equal(c.accept(statusSubject('site-a', 'gw-1'), beat('site-a', 'gw-1', '2026-03-04T09:00:00Z'), 3), 'updated');
  t.equal(c.list()[1]!.receivedAt, 2, 'an older beat that crossed a newer one does not replace it');
  t.equal(c.accept(statusSubject('site-a', 'gw-1'), Buffer.from('{'), 4), false);
  t.equal(c.rejected, 1, 'malformed: rejected, not ignored');
});

t.test('without options: any site, no cap (control status over a short window)', async (t) => {
  const c = new StatusCache();
  for (let i = 0; i < 300; i++) c.accept(statusSubject('site-q', `gw-${i}`), beat('site-q', `gw-${i}`), 1);
  t.equal(c.size, 300);
});
