/**
 * The DER reader (der-reader.ts, cert-fields.ts) and writer (der-writer.ts, cert-builder.ts) that replace the
 * JS X.509 libraries: strict DER [X.690 10], OpenSSL agrees with what we read and parses what we build, and
 * hostile bytes give `null`, never a throw.
 */
import t from 'tap';
import fc from 'fast-check';
import { X509Certificate } from 'node:crypto';
import { buildCertificate, generateKeyPair, KeyUsage } from '../../gateway/identity/cert-builder.js';
import { readCertFields, readTbsParts } from '../../gateway/identity/cert-fields.js';
import { oidString, readTlv, smallUnsigned } from '../../gateway/identity/der-reader.js';
import { namedBits, oid, smallInt, time } from '../../gateway/identity/der-writer.js';
import { verifyPeerChain } from '../../gateway/identity/peer-verifier.js';
import { leaf, tlsMatrix, verifierOnly } from '../helpers/bad-certs.js';
import { makePki, TD } from '../helpers/pki.js';

const pki = await makePki();
const issuer = pki.ca.issuerForTests();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('readTlv: definite shortest lengths only, never past the limit', async (t) => {
  t.match(readTlv(Buffer.from('300100', 'hex'), 0), { tag: 0x30, at: 0, start: 2, end: 3 });
  t.match(readTlv(Buffer.from('0481' + '80' + '00'.repeat(0x80), 'hex'), 0), { start: 3, end: 0x83 }, 'long form');
  const refused: Array<[string, string]> = [
    ['3080', 'indefinite length (BER)'],
    ['30810100', 'long form for a short length'],
    ['3082000100', 'leading zero length byte'],
    ['3085010101010100', 'five length bytes'],
    ['3005010203', 'contents overrun the buffer'],
    ['1f0100', 'high tag number form'],
    ['30', 'no length'],
    ['', 'empty'],
  ];
  for (const [h, why] of refused) t.equal(readTlv(Buffer.from(h, 'hex'), 0), null, why);
  t.equal(readTlv(Buffer.from('30020101', 'hex'), 0, 3), null, "an element may not cross its parent's end");
});

t.test('OIDs and small INTEGERs', async (t) => {
  for (const id of [
    '2.5.29.17',
    '1.3.6.1.4.1.50316.802.1',
    '1.2.840.10045.4.3.2',
    '2.999.3',
    '0.0',
    '1.3.6.1.4.1.2147483648',
  ]) {
    const der = oid(id);
    t.equal(oidString(der.subarray(2)), id, `${id} round trip`);
  }
  t.equal(oidString(Buffer.from('2b06', 'hex')), '1.3.6');
  t.equal(oidString(Buffer.from('2b86', 'hex')), null, 'truncated arc');
  t.equal(oidString(Buffer.from('2b8001', 'hex')), null, 'non-minimal arc (0x80 padding)');
  t.equal(oidString(Buffer.from('2b' + 'ff'.repeat(9) + '7f', 'hex')), null, 'arc beyond 2^53');
  t.equal(oidString(Buffer.alloc(0)), null);
  t.equal(smallUnsigned(Buffer.from('00', 'hex')), 0);
  t.equal(smallUnsigned(Buffer.from('7fffffff', 'hex')), 0x7fffffff);
  t.equal(smallUnsigned(Buffer.from('ff', 'hex')), null, 'negative');
  t.equal(smallUnsigned(Buffer.from('0100000000', 'hex')), null, 'too large');
  t.equal(hex(smallInt(0)), '020100');
  t.equal(hex(smallInt(128)), '02020080');
});

t.test('writer: named bits without trailing zeros, UTCTime through 2049 then GeneralizedTime', async (t) => {
  t.equal(hex(namedBits(KeyUsage.digitalSignature)), '03020780');
  t.equal(hex(namedBits(KeyUsage.digitalSignature | KeyUsage.keyEncipherment | KeyUsage.keyAgreement)), '030203a8');
  t.equal(hex(namedBits(KeyUsage.keyCertSign | KeyUsage.cRLSign)), '03020106');
  t.equal(hex(namedBits(KeyUsage.decipherOnly)), '0303070080');
  t.equal(hex(namedBits(0)), '030100');
  t.equal(time(new Date('2049-12-31T23:59:59.999Z')).toString('latin1', 2), '491231235959Z');
  t.equal(time(new Date('2050-01-01T00:00:00Z')).toString('latin1', 2), '20500101000000Z');
  const keys = await generateKeyPair();
  const far = buildCertificate({
    subject: 'CN=far',
    keys,
    notBefore: new Date('2049-06-01T00:00:00Z'),
    notAfter: new Date('2051-01-01T00:00:00Z'),
    keyUsage: null,
    eku: null,
    ca: null,
  });
  t.equal(new Date(far.validTo).toISOString(), '2051-01-01T00:00:00.000Z', 'OpenSSL reads the GeneralizedTime');
  t.equal(far.subject, 'CN=far');
  t.ok(far.checkIssued(far) && far.verify(far.publicKey), 'self-signed, AKI-less, verifies');
});

t.test('builder ↔ OpenSSL: names chain, key identifiers match, pathLen and roles read back', async (t) => {
  const keys = await generateKeyPair();
  const ca = buildCertificate({
    subject: 'O=Test Root, C=DE, CN=root',
    keys,
    notBefore: new Date(Date.now() - 1000),
    notAfter: new Date(Date.now() + 3600_000),
    ca: true,
    pathLen: 3,
    keyUsage: KeyUsage.keyCertSign,
    eku: null,
  });
  t.equal(ca.subject, 'O=Test Root\nC=DE\nCN=root', 'RDNs in the written order');
  t.match(readCertFields(ca.raw), {
    isCa: true,
    pathLen: 3,
    keyUsage: { keyCertSign: true, digitalSignature: false },
    extKeyUsage: null,
  });
  const child = await leaf(
    { cert: ca, key: keys.privateKey },
    { roles: ['operator'], dnsNames: ['hmi.plant.example'] },
  );
  const c = new X509Certificate(child.chainDer[0]!);
  t.ok(c.checkIssued(ca), 'issuer Name and AKI match the CA (OpenSSL X509_check_issued)');
  t.ok(c.verify(ca.publicKey));
  t.equal(c.issuer, ca.subject);
  t.match(readCertFields(c.raw), {
    uriSans: [`spiffe://${TD}/client`],
    dnsSans: ['hmi.plant.example'],
    isCa: false,
    pathLen: null,
  });
  const parts = readTbsParts(c.raw);
  t.ok(
    parts !== null &&
      c.publicKey.export({ type: 'spki', format: 'der' }).equals(c.raw.subarray(parts.spki.at, parts.spki.end)),
    'SPKI located',
  );
  t.throws(
    () =>
      buildCertificate({
        subject: 'XX=nope',
        keys,
        notBefore: new Date(),
        notAfter: new Date(),
        keyUsage: null,
        eku: null,
      }),
    /unsupported name attribute/,
  );
});

t.test('what we read agrees with OpenSSL on every certificate of the rejection matrix', async (t) => {
  for (const c of [...tlsMatrix, ...verifierOnly]) {
    const m = await c.build(pki);
    const der = m.chainDer[0]!;
    const f = readCertFields(der);
    const legacy = new X509Certificate(der).toLegacyObject() as {
      subjectaltname?: string;
      ca?: boolean;
      ext_key_usage?: string[];
    };
    t.ok(f, c.name);
    if (f === null) continue;
    const sans = (legacy.subjectaltname ?? '').split(', ').filter((s) => s !== '');
    t.same(
      f.uriSans,
      sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
      `${c.name}: URI SANs`,
    );
    t.same(
      f.dnsSans,
      sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
      `${c.name}: DNS SANs`,
    );
    t.equal(f.isCa, legacy.ca === true, `${c.name}: cA`);
    t.same(f.extKeyUsage ?? undefined, legacy.ext_key_usage, `${c.name}: EKU`);
  }
});

t.test(
  'malformed extensions make the whole certificate malformed (untrusted-chain), never a partial read',
  async (t) => {
    const ext = (oidStr: string, h: string, critical = false) => ({
      oid: oidStr,
      critical,
      value: Buffer.from(h, 'hex'),
    });
    const cases: Array<[string, Parameters<typeof leaf>[1]]> = [
      ['a second KeyUsage', { extra: [ext('2.5.29.15', '03020780')] }],
      ['a second SAN', { extra: [ext('2.5.29.17', '3000')] }],
      ['SAN overrunning its value', { uris: [], extra: [ext('2.5.29.17', '30058610')] }],
      ['SAN with trailing bytes', { uris: [], extra: [ext('2.5.29.17', '300000')] }],
      ['KeyUsage with 8 unused bits', { keyUsage: null, extra: [ext('2.5.29.15', '03020880')] }],
      ['KeyUsage not a BIT STRING', { keyUsage: null, extra: [ext('2.5.29.15', '04020780')] }],
      ['basicConstraints with a BER boolean', { ca: null, extra: [ext('2.5.29.19', '3003010101')] }],
      ['basicConstraints with a negative pathLen', { ca: null, extra: [ext('2.5.29.19', '30060101ff0201ff')] }],
      ['EKU holding a non-OID', { eku: null, extra: [ext('2.5.29.37', '30020500')] }],
    ];
    for (const [name, over] of cases) {
      const m = await leaf(issuer, over);
      t.equal(readCertFields(m.chainDer[0]!), null, name);
      t.match(
        verifyPeerChain(m.chainDer, pki.bundles, new Date()),
        { ok: false, reason: 'untrusted-chain', detail: /malformed/ },
        `${name} → untrusted-chain`,
      );
    }
    const other = await leaf(issuer, { extra: [ext('1.2.3.4', '0c026f70')] });
    t.ok(readCertFields(other.chainDer[0]!), 'an unknown extension is kept raw, not an error');
    t.ok(verifyPeerChain(other.chainDer, pki.bundles, new Date()).ok);
    const critical = await leaf(issuer, { extra: [ext('1.2.3.4', '0c026f70', true)] });
    t.ok(readCertFields(critical.chainDer[0]!), 'read, critical or not');
    t.match(
      verifyPeerChain(critical.chainDer, pki.bundles, new Date()),
      { ok: false, reason: 'untrusted-chain', detail: /critical extension 1\.2\.3\.4/ },
      'marked critical, it is refused: nothing here knows what it constrains [RFC 5280 4.2]',
    );
    const nonAscii = await leaf(issuer, { uris: [`spiffe://${TD}/caf\u00e9`] });
    t.match(
      verifyPeerChain(nonAscii.chainDer, pki.bundles, new Date()),
      { ok: false, reason: 'invalid-spiffe-id' },
      'a non-ASCII URI SAN is not a SPIFFE ID',
    );
  },
);

t.test('hostile bytes never throw (random buffers, bit flips, truncations of a real SVID)', async (t) => {
  const m = await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/x`, role: 'operator' });
  const der = m.chainDer[0]!;
  let nulls = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      if (readCertFields(b) === null) nulls++;
    }),
    { numRuns: 2_000 },
  );
  t.ok(nulls > 1_900, 'random bytes are (almost) never a certificate');
  fc.assert(
    fc.property(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(der.length), (at, x, cut) => {
      const b = Buffer.from(der);
      b[at] = (b[at] as number) ^ x;
      readCertFields(b);
      readCertFields(der.subarray(0, cut));
    }),
    { numRuns: 3_000 },
  );
  t.pass('no throw');
});
