/**
 * A trust bundle change judges live sessions again (gateway/frontdoor/live-chains.ts): sessions whose verified
 * chain no longer leads to an authority of their trust domain's bundle end with `bundle-revoked` and their
 * `session.close` says so; the others stay. Through the real SessionGatekeeper (fake sockets), the real
 * PeerVerifier and its cache, and dev CAs: two CAs of one trust domain, and a federated one.
 */
import t from 'tap';
import { EventEmitter, once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import type { AppendResult, AuditEventInput } from '../../gateway/audit/audit-events.js';
import { HandshakeSlots } from '../../gateway/frontdoor/handshake-slots.js';
import { LiveChains, type ChainHolder } from '../../gateway/frontdoor/live-chains.js';
import type { Session } from '../../gateway/frontdoor/session.js';
import { SessionGatekeeper } from '../../gateway/frontdoor/session-gatekeeper.js';
import { SessionRegistry } from '../../gateway/frontdoor/session-registry.js';
import { BundleSet, X509Bundle } from '../../gateway/identity/bundle-set.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import type { PeerCheck } from '../../gateway/identity/peer-check.js';
import { PeerVerifier, type PeerIdentity } from '../../gateway/identity/peer-verifier.js';
import { VerifiedChainCache } from '../../gateway/identity/verified-chain-cache.js';
import { GatewayMetrics } from '../../gateway/observability/metrics.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const TD = 'plant.example';
const OTHER = 'other.org';
const [ca1, ca2, ca3, otherCa] = await Promise.all([
  DevCa.create({ trustDomain: TD }),
  DevCa.create({ trustDomain: TD }),
  DevCa.create({ trustDomain: TD }),
  DevCa.create({ trustDomain: OTHER }),
]);
const NOW = Date.now();
const ours = (...cas: DevCa[]): X509Bundle => new X509Bundle(ca1.trustDomain, [...cas.map((c) => c.caCertificate())]);
const mint = async (ca: DevCa, id: string): Promise<X509Certificate[]> =>
  (await ca.mintX509Svid({ spiffeId: id, ttlSeconds: 3600 })).chainDer.map((d) => new X509Certificate(d));

/** One gateway's worth of the parts a bundle change touches; `bundles` is what the Workload API said last. */
function rig(start: BundleSet) {
  const verifier = new PeerVerifier(new VerifiedChainCache<PeerIdentity>());
  const timers = new FakeTimers(NOW);
  const state = { bundles: start };
  const written: AuditEventInput[] = [];
  const sessions = new SessionRegistry();
  const chains = new LiveChains<Session>();
  const gatekeeper = new SessionGatekeeper('mbaps', {
    verifyPeer: (socket) => {
      const chain = (socket as unknown as FakeSocket).chain;
      const r = verifier.verify(chain, state.bundles, new Date(timers.now()));
      if (!r.ok) return r;
      const p = r.peer;
      const peer = { id: p.id.toString(), role: p.role, notAfter: p.notAfter, fingerprint256: p.fingerprint256 };
      return { ok: true, peer, chain } satisfies PeerCheck;
    },
    tlsErrorReason: () => 'tls-error',
    gate: { admit: () => ({ ok: true }) } as never,
    sessions,
    chains,
    audit: {
      append: (e: AuditEventInput): AppendResult => {
        written.push(e);
        return { ok: true, seq: written.length };
      },
    },
    metrics: new GatewayMetrics(),
    now: () => timers.now(),
    timers,
    handshake: { slots: new HandshakeSlots({ maxPending: 8, maxPendingPerSource: 8 }), timeoutMs: 1000 },
  });
  let port = 40000;
  return {
    verifier,
    state,
    written,
    sessions,
    chains,
    open(chain: X509Certificate[]): { session: Session; socket: FakeSocket } {
      const socket = new FakeSocket(chain, port++);
      const session = gatekeeper.open(socket as unknown as tls.TLSSocket);
      if (session === null) throw new Error('refused at the handshake');
      return { session, socket };
    },
    /** What the composition root does on a bundle change (composition/front-door-components.ts). */
    change(next: BundleSet) {
      state.bundles = next;
      return chains.recheck((chain) => verifier.verify(chain, state.bundles, new Date(timers.now())));
    },
    closes: () => written.filter((e) => e.type === 'session.close') as (AuditEventInput & Record<string, unknown>)[],
  };
}

/** Enough of a TLS socket for the gatekeeper: `destroy()` closes it on the next turn, as a real one does. */
class FakeSocket extends EventEmitter {
  readonly remoteAddress = '192.0.2.7';
  destroyed = false;
  constructor(
    readonly chain: X509Certificate[],
    readonly remotePort: number,
  ) {
    super();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    setImmediate(() => this.emit('close'));
  }
}

t.test('the bundle drops CA-1: its two sessions end (bundle-revoked, audited), the CA-2 session stays', async (t) => {
  const r = rig(BundleSet.of([ours(ca1, ca2), otherCa.bundle()]));
  const hmi = await mint(ca1, `spiffe://${TD}/hmi/line1`); // one SVID, two connections
  const a1 = r.open(hmi);
  const a2 = r.open(hmi.map((c) => new X509Certificate(c.raw))); // the same SVID parsed on another socket
  const b = r.open(await mint(ca2, `spiffe://${TD}/historian/1`));
  t.equal(r.chains.size, 2, 'one chain per distinct leaf');
  const misses = r.verifier.cache.stats().misses;

  const report = await r.change(BundleSet.of([ours(ca2), otherCa.bundle()]));
  t.equal(r.verifier.cache.stats().misses - misses, 2, 'verified once per distinct chain, not per session');
  t.match(report, { chains: 2, ended: 2, superseded: false });
  t.match(report.revoked, [
    {
      identity: `spiffe://${TD}/hmi/line1`,
      reason: 'untrusted-chain',
      sessions: 2,
      fingerprint: hmi[0]?.fingerprint256,
    },
  ]);
  t.equal(a1.session.endReason, 'bundle-revoked');
  t.equal(a2.session.endReason, 'bundle-revoked');
  t.ok(b.session.isOpen, 'the CA-2 session stays');
  t.ok(a1.socket.destroyed && a2.socket.destroyed && !b.socket.destroyed, 'their connections are closed at once');

  await Promise.all([once(a1.socket, 'close'), once(a2.socket, 'close')]);
  t.match(
    r.closes(),
    [
      { session: a1.session.id, identity: `spiffe://${TD}/hmi/line1`, reason: 'bundle-revoked' },
      { session: a2.session.id, identity: `spiffe://${TD}/hmi/line1`, reason: 'bundle-revoked' },
    ],
    'each audited as session.close with the reason',
  );
  t.equal(r.closes().length, 2);
  t.equal(r.sessions.size, 1);
  t.equal(r.chains.size, 1, 'the revoked chain is dropped with its last session');

  t.equal(r.verifier.knownLeaf(hmi[0]!.raw, r.state.bundles, new Date(NOW)), undefined, 'the cache no longer vouches');
  t.throws(() => r.open(hmi), /refused/, 'and the same SVID is refused at a new handshake');
});

t.test('the bundles change but still hold the CA: nothing ends', async (t) => {
  const r = rig(BundleSet.of([ours(ca1, ca2), otherCa.bundle()]));
  const hmi = await mint(ca1, `spiffe://${TD}/hmi/line1`);
  const sessions = [r.open(hmi), r.open(hmi), r.open(await mint(ca2, `spiffe://${TD}/historian/1`))];
  const added = await r.change(BundleSet.of([ours(ca1, ca2, ca3), otherCa.bundle()])); // a CA added
  t.same(added, { chains: 2, revoked: [], ended: 0, superseded: false });
  const reordered = await r.change(BundleSet.of([otherCa.bundle(), ours(ca2, ca1)])); // another snapshot, same CAs
  t.same(reordered, { chains: 2, revoked: [], ended: 0, superseded: false });
  t.ok(
    sessions.every((s) => s.session.isOpen && !s.socket.destroyed),
    'every session is open',
  );
  t.same(r.closes(), []);
});

t.test('a federated trust domain dropped ends its sessions (no-bundle-for-trust-domain)', async (t) => {
  const r = rig(BundleSet.of([ours(ca1), otherCa.bundle()]));
  const partner = r.open(await mint(otherCa, `spiffe://${OTHER}/scada/1`));
  const local = r.open(await mint(ca1, `spiffe://${TD}/hmi/line1`));
  const report = await r.change(BundleSet.of([ours(ca1)]));
  t.match(report.revoked, [{ identity: `spiffe://${OTHER}/scada/1`, reason: 'no-bundle-for-trust-domain' }]);
  t.equal(partner.session.endReason, 'bundle-revoked');
  t.ok(local.session.isOpen);
});

/** A holder that only records how it ended. */
const holder = (id: string): ChainHolder & { ended: string[] } => {
  const ended: string[] = [];
  return {
    ended,
    peer: { id },
    get isOpen() {
      return ended.length === 0;
    },
    end: (reason) => void ended.push(reason),
  };
};

t.test('bounded: distinct chains are judged a batch per turn; a newer change supersedes a run', async (t) => {
  const turns: (() => void)[] = [];
  const chains = new LiveChains({ batch: 2, nextTurn: () => new Promise<void>((r) => turns.push(r)) });
  const leaf = await mint(ca1, `spiffe://${TD}/a`);
  for (let i = 0; i < 5; i++) chains.add(`fp${i}`, leaf, holder(`spiffe://${TD}/s${i}`));
  const judged: number[] = [];
  let n = 0;
  const first = chains.recheck(() => {
    judged.push(n++);
    return { ok: true };
  });
  await Promise.resolve();
  t.same(judged, [0, 1], 'the first batch in the first turn, then it yields');
  t.equal(turns.length, 1);
  const second = chains.recheck(() => ({ ok: false, reason: 'untrusted-chain', detail: 'x' }));
  turns.shift()?.(); // the first run's turn comes: a newer run has begun
  t.match(await first, { chains: 2, superseded: true });
  t.same(judged, [0, 1], 'the superseded run judges nothing more');
  let done = false;
  void second.then(() => (done = true));
  let yielded = 0;
  while (!done) {
    const next = turns.shift();
    if (next) yielded++;
    next?.();
    await new Promise((r) => setImmediate(r));
  }
  t.match(await second, { chains: 5, ended: 5, superseded: false });
  t.equal(yielded, 2, 'five chains, two per batch: two turns yielded');
});

t.test('a session already ending keeps its own reason', async (t) => {
  const chains = new LiveChains();
  const leaf = await mint(ca1, `spiffe://${TD}/a`);
  const locked = holder(`spiffe://${TD}/a`);
  const live = holder(`spiffe://${TD}/a`);
  locked.end('locked');
  chains.add('fp', leaf, locked);
  chains.add('fp', leaf, live);
  const r = await chains.recheck(() => ({ ok: false, reason: 'untrusted-chain', detail: 'x' }));
  t.match(r, { ended: 1, revoked: [{ sessions: 1 }] });
  t.same([locked.ended, live.ended], [['locked'], ['bundle-revoked']]);
  chains.remove('fp', locked);
  chains.remove('fp', live);
  t.equal(chains.size, 0);
});

t.test('BundleSet.sameAuthorities: content, not the object', async (t) => {
  const a = BundleSet.of([ours(ca1, ca2), otherCa.bundle()]);
  t.ok(a.sameAuthorities(BundleSet.of([otherCa.bundle(), ours(ca1, ca2)])), 'same CAs, another snapshot');
  t.notOk(a.sameAuthorities(BundleSet.of([ours(ca1, ca2)])), 'a trust domain dropped');
  t.notOk(a.sameAuthorities(BundleSet.of([ours(ca2), otherCa.bundle()])), 'a CA dropped');
  // compared as bytes: a reordered bundle counts as a change, which costs a recheck, never a missed one
  t.notOk(a.sameAuthorities(BundleSet.of([ours(ca2, ca1), otherCa.bundle()])), 'reordered');
});
