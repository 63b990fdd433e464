/**
 * The verified-chain cache is an injected object (no module state): counted hits and misses, bounded (least
 * recently used out), one cache per verifier, and a hit only where full verification would say the same —
 * same chain, same BundleSet, inside the path's validity. Plus the resumption lookup (leaf → verified chain).
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { BundleSet } from '../../gateway/identity/bundle-set.js';
import { PeerVerifier, verifyPeerCertificates, type PeerIdentity } from '../../gateway/identity/peer-verifier.js';
import { VerifiedChainCache } from '../../gateway/identity/verified-chain-cache.js';
import { intermediate, leaf } from '../helpers/bad-certs.js';
import { makePki, TD } from '../helpers/pki.js';

const pki = await makePki();
const certs = (ders: readonly Buffer[]): X509Certificate[] => ders.map((d) => new X509Certificate(d));
const mint = async (path: string): Promise<X509Certificate[]> =>
  certs((await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/${path}`, ttlSeconds: 3600 })).chainDer);
const verifier = (opts?: ConstructorParameters<typeof VerifiedChainCache>[0]) =>
  new PeerVerifier(new VerifiedChainCache<PeerIdentity>(opts));
const NOW = new Date();

t.test('a second verification of the same chain is a counted hit with the same verdict', async (t) => {
  const v = verifier();
  const chain = await mint('hmi/line1');
  const first = v.verify(chain, pki.bundles, NOW);
  t.same(v.cache.stats(), { hits: 0, misses: 1, evictions: 0, entries: 1 });
  const second = v.verify(certs(chain.map((c) => c.raw)), pki.bundles, NOW); // equal bytes, other objects
  t.same(v.cache.stats(), { hits: 1, misses: 1, evictions: 0, entries: 1 });
  t.same(second, first, 'the cached verdict equals the computed one');
  t.same(second, verifyPeerCertificates(chain, pki.bundles, NOW).result, 'and equals a verification without cache');
});

t.test('each verifier has its own cache', async (t) => {
  const a = verifier();
  const b = verifier();
  const chain = await mint('a');
  a.verify(chain, pki.bundles, NOW);
  a.verify(chain, pki.bundles, NOW);
  b.verify(chain, pki.bundles, NOW);
  t.match(a.cache.stats(), { hits: 1, misses: 1 });
  t.match(b.cache.stats(), { hits: 0, misses: 1 }, "b never saw a's entry");
});

t.test('bounded: the least recently used chain goes first', async (t) => {
  const v = verifier({ maxEntries: 2 });
  const [one, two, three] = [await mint('one'), await mint('two'), await mint('three')];
  v.verify(one, pki.bundles, NOW);
  v.verify(two, pki.bundles, NOW);
  v.verify(one, pki.bundles, NOW); // hit: `one` is now the most recent
  v.verify(three, pki.bundles, NOW); // evicts `two`
  t.same(v.cache.stats(), { hits: 1, misses: 3, evictions: 1, entries: 2 });
  v.verify(one, pki.bundles, NOW);
  t.match(v.cache.stats(), { hits: 2 }, 'one kept');
  v.verify(two, pki.bundles, NOW);
  t.match(v.cache.stats(), { misses: 4, evictions: 2, entries: 2 }, 'two had gone');
});

t.test('a hit needs the same BundleSet object: a bundle change re-verifies (and can refuse)', async (t) => {
  const v = verifier();
  const chain = await mint('x');
  t.ok(v.verify(chain, pki.bundles, NOW).ok);
  const sameContent = BundleSet.of(pki.bundles.all());
  t.ok(v.verify(chain, sameContent, NOW).ok);
  t.match(v.cache.stats(), { hits: 0, misses: 2 }, 'another BundleSet is a miss even with the same authorities');
  const withoutOurs = BundleSet.of([pki.otherCa.bundle()]);
  t.match(v.verify(chain, withoutOurs, NOW), { ok: false, reason: 'no-bundle-for-trust-domain' }, 'never a stale yes');
});

t.test('a hit needs now inside every validity on the path; outside, full verification names the reason', async (t) => {
  const v = verifier();
  const chain = await mint('y');
  t.ok(v.verify(chain, pki.bundles, NOW).ok);
  t.match(v.verify(chain, pki.bundles, new Date(NOW.getTime() + 2 * 3600_000)), {
    ok: false,
    reason: 'expired',
    detail: /the leaf expired/,
  });
  t.match(v.verify(chain, pki.bundles, new Date(NOW.getTime() - 3600_000)), { ok: false, reason: 'not-yet-valid' });
  t.match(v.cache.stats(), { hits: 0, misses: 3 });
  const int = await intermediate(pki.ca.issuerForTests(), { notAfter: new Date(NOW.getTime() + 60_000) });
  const viaShortInt = [...certs((await leaf(int.issuer)).chainDer), new X509Certificate(int.der)];
  t.ok(v.verify(viaShortInt, pki.bundles, NOW).ok);
  t.match(
    v.verify(viaShortInt, pki.bundles, new Date(NOW.getTime() + 120_000)),
    { ok: false, reason: 'expired', detail: /intermediate 1/ },
    'the intermediate bounds the window',
  );
});

t.test('the same leaf with other intermediates is a miss; refusals are never kept', async (t) => {
  const v = verifier();
  const int = await intermediate(pki.ca.issuerForTests());
  const m = certs((await leaf(int.issuer)).chainDer);
  const good = [...m, new X509Certificate(int.der)];
  t.ok(v.verify(good, pki.bundles, NOW).ok);
  t.match(
    v.verify(m, pki.bundles, NOW),
    { ok: false, reason: 'untrusted-chain' },
    'leaf alone: a miss, verified, refused',
  );
  t.match(v.verify(m, pki.bundles, NOW), { ok: false, reason: 'untrusted-chain' });
  t.match(v.cache.stats(), { hits: 0, misses: 3, entries: 1 });
  const forged = certs((await leaf(pki.otherCa.issuerForTests(), { uris: [`spiffe://${TD}/hmi/line1`] })).chainDer);
  v.verify(forged, pki.bundles, NOW);
  v.verify(forged, pki.bundles, NOW);
  t.match(v.cache.stats(), { misses: 5, entries: 1 }, 'a refused chain is verified every time');
});

t.test('resumption: the verified chain stands in for a lone leaf within the window', async (t) => {
  const cache = new VerifiedChainCache<PeerIdentity>({ resumptionWindowMs: 1_000 });
  const v = new PeerVerifier(cache);
  const int = await intermediate(pki.ca.issuerForTests());
  const m = certs((await leaf(int.issuer)).chainDer);
  const full = [...m, new X509Certificate(int.der)];
  const t0 = NOW.getTime();
  t.same(cache.chainForResumption(m, t0), m, 'nothing verified yet: as presented');
  t.ok(v.verify(full, pki.bundles, new Date(t0)).ok);
  t.equal(cache.chainForResumption(m, t0 + 1_000).length, 2, 'within the window: the verified chain');
  t.equal(cache.chainForResumption(m, t0 + 1_001).length, 1, 'after it: as presented');
  t.ok(v.verify(full, pki.bundles, new Date(t0 + 900)).ok, 'a hit counts as a verification');
  t.equal(cache.chainForResumption(m, t0 + 1_800).length, 2, 'so the window restarts');
  const other = certs((await leaf(int.issuer)).chainDer);
  t.same(cache.chainForResumption(other, t0), other, 'another leaf: as presented');
  t.same(cache.chainForResumption(full, t0), full, 'a full chain is never replaced');
});

t.test(
  'by leaf (a TLS peer whose chain OpenSSL just verified): the leaf verified before, same bundles, in time',
  async (t) => {
    const v = verifier();
    const int = await intermediate(pki.ca.issuerForTests());
    const m = certs((await leaf(int.issuer)).chainDer);
    const leafDer = (m[0] as X509Certificate).raw;
    t.equal(v.knownLeaf(leafDer, pki.bundles, NOW), undefined, 'never verified: unknown');
    t.equal(v.cache.stats().misses, 0, 'a by-leaf miss is counted by the full verification that follows');
    const full = v.verify([...m, new X509Certificate(int.der)], pki.bundles, NOW);
    t.ok(full.ok);
    t.same(v.knownLeaf(Buffer.from(leafDer), pki.bundles, NOW), full, 'the same DER: the same verdict');
    t.match(v.cache.stats(), { hits: 1, misses: 1 });
    t.equal(v.knownLeaf(leafDer, BundleSet.of(pki.bundles.all()), NOW), undefined, 'another BundleSet: unknown');
    const later = new Date(new Date(new X509Certificate(int.der).validTo).getTime() + 1000);
    t.equal(v.knownLeaf(leafDer, pki.bundles, later), undefined, 'outside the path validity: unknown');
    t.equal(v.knownLeaf((await mint('other'))[0]!.raw, pki.bundles, NOW), undefined, 'another leaf: unknown');
    const forged = certs((await leaf(pki.otherCa.issuerForTests(), { uris: [`spiffe://${TD}/hmi/line1`] })).chainDer);
    t.notOk(v.verify(forged, pki.bundles, NOW).ok);
    t.equal(v.knownLeaf(forged[0]!.raw, pki.bundles, NOW), undefined, 'a refused chain is never known');
  },
);
