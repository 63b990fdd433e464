/**
 * One edge audit stream per gateway (fleet-topology.ts, fleet-config-render.ts, hub-provision.ts): the names,
 * the rendered permissions of a gateway's leaf user (nothing that reaches a sibling's stream or subjects), and
 * the source id the collector checks (one per gateway and site). The real-nats behaviour is in
 * test/fleet/audit-streams.test.ts.
 */
import t from 'tap';
import { gatewayPermissions, leafLinkPermissions } from '../../gateway/fleet/fleet-config-render.js';
import {
  auditCheckpointsSubject,
  auditDeliverSubject,
  auditEventsSubject,
  edgeAuditStream,
  gatewayAuditSubjects,
  gatewayOfEdgeAuditStream,
} from '../../gateway/fleet/fleet-topology.js';
import { gatewayAuditSource, gatewayAuditSourceName } from '../../gateway/fleet/hub-provision.js';

/** NATS subject matching: `*` one token, `>` the rest. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const allowed = (patterns: readonly string[], subject: string): boolean => patterns.some((p) => matches(p, subject));

t.test('a gateway stream is named after its gateway and holds exactly its two subjects', async (t) => {
  t.equal(edgeAuditStream('gw-1'), 'AUDIT-gw-1');
  t.same(gatewayAuditSubjects('site-a', 'gw-1'), ['audit.site-a.gw-1.events', 'audit.site-a.gw-1.checkpoints']);
  t.equal(gatewayOfEdgeAuditStream('AUDIT-gw-1'), 'gw-1');
  for (const other of ['AUDIT', 'AUDIT-', 'AUDIT-Gw', 'AUDIT-gw_1', 'KV_site-site-a', 'XAUDIT-gw-1'])
    t.equal(gatewayOfEdgeAuditStream(other), null, `${other} is not a gateway stream`);
  t.equal(auditDeliverSubject('site-a', 'gw-1'), 'fleet.audit-source.site-a.gw-1');
});

t.test("a gateway's leaf user reaches its own stream and subjects, nothing of a sibling's", async (t) => {
  const mine = gatewayPermissions('site-a', 'gw-1').publish;
  const own = [
    '$JS.API.STREAM.CREATE.AUDIT-gw-1',
    '$JS.API.STREAM.INFO.AUDIT-gw-1',
    '$JS.API.DIRECT.GET.AUDIT-gw-1.audit.site-a.gw-1.events',
    auditEventsSubject('site-a', 'gw-1'),
    auditCheckpointsSubject('site-a', 'gw-1'),
  ];
  for (const s of own) t.ok(allowed(mine, s), `allowed: ${s}`);
  const sibling = [
    '$JS.API.STREAM.CREATE.AUDIT-gw-2',
    '$JS.API.STREAM.INFO.AUDIT-gw-2',
    '$JS.API.STREAM.PURGE.AUDIT-gw-2',
    '$JS.API.STREAM.UPDATE.AUDIT-gw-1',
    '$JS.API.DIRECT.GET.AUDIT-gw-2.audit.site-a.gw-2.events',
    '$JS.API.CONSUMER.CREATE.AUDIT-gw-2.hub-source',
    auditEventsSubject('site-a', 'gw-2'),
    auditCheckpointsSubject('site-a', 'gw-2'),
    'audit.site-a.gw-1.other', // a subject no stream of its own holds
    // the shared stream of earlier versions, which held every gateway's blocks
    '$JS.API.STREAM.CREATE.AUDIT',
    '$JS.API.DIRECT.GET.AUDIT.audit.site-a.gw-1.events',
  ];
  for (const s of sibling) t.notOk(allowed(mine, s), `refused: ${s}`);
});

t.test("the hub's leaf user carries any gateway stream's source of its own site, none of another's", async (t) => {
  const link = leafLinkPermissions('site-a');
  t.ok(allowed(link.publish, auditDeliverSubject('site-a', 'gw-7')), 'deliveries of any gateway of the site');
  t.notOk(allowed(link.publish, auditDeliverSubject('site-b', 'gw-7')), "never another site's");
  t.ok(allowed(link.subscribe, '$JS.site-a.API.STREAM.NAMES'), 'control lists the site streams');
  t.ok(allowed(link.subscribe, '$JS.site-a.API.STREAM.PURGE.AUDIT-gw-7'), 'and purges a gateway stream');
  t.ok(allowed(link.subscribe, '$JS.site-a.API.CONSUMER.CREATE.AUDIT-gw-7.hub-source'));
  t.notOk(allowed(link.subscribe, '$JS.site-a.API.CONSUMER.CREATE.AUDIT-gw-7.other'), 'only the source consumer');
  t.notOk(allowed(link.subscribe, '$JS.site-b.API.STREAM.PURGE.AUDIT-gw-7'), "nothing into another site's domain");
});

t.test('the hub stamps one source id per gateway stream and site', async (t) => {
  const ids = ['site-a/gw-1', 'site-a/gw-2', 'site-b/gw-1'].map((k) => {
    const [site, gw] = k.split('/') as [string, string];
    return gatewayAuditSourceName(site, gw);
  });
  t.equal(new Set(ids).size, 3);
  t.match(ids[0], /^AUDIT-gw-1:[0-9A-Za-z]{8}:C=[0-9A-Za-z]{8}$/);
  t.match(gatewayAuditSource('site-a', 'gw-1'), {
    name: 'AUDIT-gw-1',
    external: { api: '$JS.site-a.API' },
    consumer: { name: 'hub-source', deliver_subject: 'fleet.audit-source.site-a.gw-1' },
  });
});
