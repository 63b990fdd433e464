/**
 * The signed policy envelope (gateway/fleet/policy-envelope.ts): what the gateway applies and every reason it
 * refuses one, with SVIDs from the dev CA (and a rogue CA of the same trust domain).
 */
import t from 'tap';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { fleetIds } from '../../gateway/fleet/fleet-topology.js';
import {
  signPolicyEnvelope,
  verifyPolicyEnvelope,
  type PolicyEnvelope,
  type VerifyEnvelopeOptions,
} from '../../gateway/fleet/policy-envelope.js';
import { canonicalJson } from '../../gateway/audit/canonical-json.js';
import { makePki, TD, toSvid } from '../helpers/pki.js';

const pki = await makePki();
const CONTROL = fleetIds.control(TD);
const control = await pki.mint(CONTROL);
const POLICY = 'version: 1\nrules: []\n';
const NOW = new Date();

const opts = (over: Partial<VerifyEnvelopeOptions> = {}): VerifyEnvelopeOptions => ({
  bundle: pki.bundles,
  signers: [CONTROL],
  site: 'site-a',
  appliedRevision: 3,
  now: NOW,
  ...over,
});
const signed = (over: { revision?: number; site?: string; signedAt?: Date } = {}): PolicyEnvelope =>
  signPolicyEnvelope(
    {
      site: over.site ?? 'site-a',
      group: 'north',
      revision: over.revision ?? 4,
      policy: POLICY,
      signedAt: over.signedAt ?? NOW,
    },
    control,
  );
/** Through JSON, as the envelope travels in the KV value. */
const wire = (e: unknown): unknown => JSON.parse(JSON.stringify(e));

t.test('a good envelope verifies and yields its text and revision', async (t) => {
  const e = signed();
  t.equal(e.kind, 'verigate.policy/v1');
  t.equal(e.signer, CONTROL);
  t.equal(e.chain.length, 1);
  t.match(e.sha256, /^[0-9a-f]{64}$/);
  t.same(verifyPolicyEnvelope(wire(e), opts()), { ok: true, policyText: POLICY, revision: 4 });
});

t.test('the signature covers the canonical JSON of every member but the signature', async (t) => {
  const e = signed();
  const { signature: _sig, ...rest } = e;
  const reordered = Object.fromEntries(Object.entries(rest).reverse());
  t.equal(canonicalJson(reordered), canonicalJson(rest), 'member order does not matter');
  t.ok(verifyPolicyEnvelope(wire({ ...reordered, signature: e.signature }), opts()).ok);
});

t.test('tampered text: sha256 mismatch; tampered text and sha256: bad signature', async (t) => {
  const e = signed();
  const text = POLICY + '# more\n';
  t.match(verifyPolicyEnvelope(wire({ ...e, policy: text }), opts()), { ok: false, code: 'sha256-mismatch' });
  const { createHash } = await import('node:crypto');
  const sha256 = createHash('sha256').update(text).digest('hex');
  t.match(verifyPolicyEnvelope(wire({ ...e, policy: text, sha256 }), opts()), { ok: false, code: 'bad-signature' });
  t.match(verifyPolicyEnvelope(wire({ ...e, revision: 9 }), opts()), { ok: false, code: 'bad-signature' });
  const sig = Buffer.from(e.signature, 'base64');
  sig[sig.length - 1] = (sig[sig.length - 1] as number) ^ 1;
  t.match(verifyPolicyEnvelope(wire({ ...e, signature: sig.toString('base64') }), opts()), {
    ok: false,
    code: 'bad-signature',
  });
});

t.test('a signer that is not in policySigners, or that claims another ID, is refused', async (t) => {
  const other = await pki.mint(`spiffe://${TD}/fleet/site/site-a/gateway/gw-1`);
  const e = signPolicyEnvelope({ site: 'site-a', revision: 4, policy: POLICY, signedAt: NOW }, other);
  t.match(verifyPolicyEnvelope(wire(e), opts()), { ok: false, code: 'signer-not-allowed' });
  t.match(verifyPolicyEnvelope(wire({ ...e, signer: CONTROL }), opts()), { ok: false, code: 'signer-mismatch' });
});

t.test('a chain from a rogue CA (same trust domain, other key) is refused', async (t) => {
  const rogue = await DevCa.create({ trustDomain: TD });
  const svid = toSvid(await rogue.mintX509Svid({ spiffeId: CONTROL }));
  const e = signPolicyEnvelope({ site: 'site-a', revision: 4, policy: POLICY, signedAt: NOW }, svid);
  t.match(verifyPolicyEnvelope(wire(e), opts()), { ok: false, code: 'untrusted-signer-chain' });
});

t.test('a replayed older revision is refused; the revision in force is reported as already applied', async (t) => {
  t.match(verifyPolicyEnvelope(wire(signed({ revision: 2 })), opts()), { ok: false, code: 'stale-revision' });
  t.match(verifyPolicyEnvelope(wire(signed({ revision: 3 })), opts()), { ok: false, code: 'already-applied' });
  t.ok(verifyPolicyEnvelope(wire(signed({ revision: 1 })), opts({ appliedRevision: 0 })).ok, 'first ever');
});

t.test("another site's envelope is refused", async (t) => {
  t.match(verifyPolicyEnvelope(wire(signed({ site: 'site-b' })), opts()), { ok: false, code: 'wrong-site' });
});

t.test('signedAt: at most 60 s in the future; the chain is judged at signedAt', async (t) => {
  const ahead = (ms: number) => signed({ signedAt: new Date(NOW.getTime() + ms) });
  t.match(verifyPolicyEnvelope(wire(ahead(61_000)), opts()), { ok: false, code: 'signed-in-future' });
  t.ok(verifyPolicyEnvelope(wire(ahead(59_000)), opts()).ok, 'within the skew');
  // a short-lived signer SVID: valid when it signed, long expired when the edge applies it (offline edge)
  const short = await pki.mint(CONTROL, { ttlSeconds: 60 });
  const e = signPolicyEnvelope({ site: 'site-a', revision: 4, policy: POLICY, signedAt: NOW }, short);
  t.ok(verifyPolicyEnvelope(wire(e), opts({ now: new Date(NOW.getTime() + 3_600_000) })).ok, 'expired since');
  const late = signPolicyEnvelope(
    { site: 'site-a', revision: 4, policy: POLICY, signedAt: new Date(NOW.getTime() + 120_000) },
    short,
  );
  t.match(verifyPolicyEnvelope(wire(late), opts({ now: new Date(NOW.getTime() + 120_000) })), {
    ok: false,
    code: 'untrusted-signer-chain',
    detail: /expired/,
  });
});

t.test('malformed envelopes are refused as values, never thrown', async (t) => {
  const e = signed();
  const cases: unknown[] = [
    null,
    'text',
    [],
    { ...e, kind: 'other' },
    { ...e, extra: 1 },
    { ...e, revision: 0 },
    { ...e, revision: 1.5 },
    { ...e, group: 3 },
    { ...e, signedAt: 'yesterday' },
    { ...e, chain: [] },
    { ...e, chain: ['!!'] },
    { ...e, chain: new Array(9).fill(e.chain[0]) },
    { ...e, signature: 'not base64!' },
    { ...e, policy: 7 },
  ];
  for (const c of cases)
    t.match(verifyPolicyEnvelope(c, opts()), { ok: false, code: 'malformed' }, JSON.stringify(c)?.slice(0, 60));
  t.match(verifyPolicyEnvelope(wire({ ...e, chain: ['AAAA'] }), opts()), { ok: false, code: 'untrusted-signer-chain' });
});

t.test('a long-expired signer key cannot backdate signedAt into its validity to sign a new revision', async (t) => {
  const expired = await pki.mint(CONTROL, { ttlSeconds: 60 });
  const minted = new Date();
  const attackTime = new Date(minted.getTime() + 24 * 3600_000 + 60_000); // a day after the SVID expired
  const forged = signPolicyEnvelope(
    { site: 'site-a', revision: Number.MAX_SAFE_INTEGER, policy: POLICY, signedAt: minted },
    expired,
  );
  const json = JSON.parse(JSON.stringify(forged)) as unknown;
  t.match(verifyPolicyEnvelope(json, opts({ appliedRevision: 41, now: attackTime })), {
    ok: false,
    code: 'signed-too-long-ago',
  });
  // signed before the envelope in force (which was signed after the key expired): refused however recent
  t.match(
    verifyPolicyEnvelope(
      json,
      opts({
        appliedRevision: 41,
        appliedSignedAt: minted.getTime() + 120_000,
        now: new Date(minted.getTime() + 180_000),
      }),
    ),
    { ok: false, code: 'signed-before-applied' },
  );
  // an offline edge still takes an envelope whose signer SVID expired since, within the bound
  t.match(verifyPolicyEnvelope(json, opts({ appliedRevision: 41, now: new Date(minted.getTime() + 3600_000) })), {
    ok: true,
  });
  t.match(
    verifyPolicyEnvelope(
      json,
      opts({ appliedRevision: 41, maxAgeMs: 600_000, now: new Date(minted.getTime() + 3600_000) }),
    ),
    { ok: false, code: 'signed-too-long-ago' },
    'the bound is an option',
  );
});
