/**
 * Container records (IEC 61158-6-10 Index): a WriteMultiple (0xE040) carries whole writes, each with its own
 * API, slot, subslot and index. The codec decodes them (records/write-multiple.ts); policy judges EACH inner
 * write (explicit deny wins, every one allowed with its own limits, JIT refused inside); any other container
 * (CombinedObjectContainer 0x80B0) is refused `container-not-judged`; the record.decision lists the inner writes.
 * Ported from the review's WriteMultiple proof: an `0xE000-0xEFFF` write entry let through a write a deny names.
 */
import t from 'tap';
import { compilePolicyText, evaluateRecord, type CompiledPolicy, type Decision } from '../../gateway/policy/index.js';
import {
  decodeWriteMultiple,
  encodeWriteReqBlock,
  NIL_UUID,
  type RecordRequest,
} from '../../protocols/profinet/index.js';
import { recordDecisionEvent } from '../../gateway/frontdoor/record-events.js';
import type { Session } from '../../gateway/frontdoor/session.js';
import type { Verdict } from '../../gateway/frontdoor/request-events.js';

const TD = 'plant.example';
const ENG = { id: `spiffe://${TD}/eng/alice`, role: null };
const DEVICE = 'rio-1';
const NOW = new Date('2026-03-04T10:00:00Z');

const POLICY = `version: 1
trustDomain: ${TD}
rules:
  - id: eng-di-delay
    principals: [spiffe://${TD}/eng/*]
    devices: [${DEVICE}]
    rate: 5/s
    profinet:
      - access: write
        slots: 1
        subslots: 1
        indices: 0x0100
        length: 2
        values: [{ offset: 0, type: u16be, range: "1..200" }]
  - id: eng-ar-records
    principals: [spiffe://${TD}/eng/*]
    devices: [${DEVICE}]
    profinet:
      - { access: write, slots: 0, subslots: 1, indices: "0xE000-0xEFFF", length: 72 }
      - { access: write, slots: 0, subslots: 1, indices: 0x80B0, length: 72 }
  - id: eng-jit
    principals: [spiffe://${TD}/eng/*]
    devices: [${DEVICE}]
    jit: { approvers: [spiffe://${TD}/ops/lead], maxDuration: 15m }
    profinet:
      - { access: write, slots: 2, subslots: 1, indices: 0x0100, length: 2 }
  - id: no-ai-ranges
    effect: deny
    principals: [spiffe://${TD}/**]
    devices: [${DEVICE}]
    profinet:
      - { access: write, slots: 3, subslots: "*", indices: 0x0100 }
`;

interface Inner {
  readonly slot: number;
  readonly subslot?: number;
  readonly index: number;
  readonly hex: string;
}

/** IODWriteMultipleReq record data: per inner write its IODWriteReqHeader, its data, padding to 4 bytes. */
function writeMultiple(inner: readonly Inner[], pad = true): Buffer {
  const parts: Buffer[] = [];
  for (const w of inner) {
    const data = Buffer.from(w.hex, 'hex');
    const header = encodeWriteReqBlock({
      sequenceNumber: 0,
      arUuid: NIL_UUID,
      api: 0,
      slot: w.slot,
      subslot: w.subslot ?? 1,
      index: w.index,
      recordDataLength: data.length,
    });
    parts.push(header, data);
    if (pad) parts.push(Buffer.alloc((4 - (data.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

const outer = (data: Buffer, index = 0xe040): RecordRequest => ({
  access: 'write',
  api: 0,
  slot: 0,
  subslot: 1,
  index,
  length: data.length,
  data,
});
const policy: CompiledPolicy = compilePolicyText(POLICY, 'policy.yaml');
const ev = (r: RecordRequest, p = policy): Decision => evaluateRecord(p, ENG, DEVICE, r, NOW);

t.test('codec: the inner writes of a WriteMultiple, padding between them', async (t) => {
  const data = writeMultiple([
    { slot: 1, index: 0x0100, hex: '0032' },
    { slot: 3, index: 0x0101, hex: '000900' },
  ]);
  const d = decodeWriteMultiple(data);
  t.ok(d.ok);
  if (!d.ok) return;
  t.same(
    d.value.map((w) => [w.slot, w.subslot, w.index, w.data.toString('hex')]),
    [
      [1, 1, 0x0100, '0032'],
      [3, 1, 0x0101, '000900'],
    ],
  );
  t.match(decodeWriteMultiple(Buffer.alloc(0)), { ok: false, reason: 'truncated' }, 'no inner write');
  t.match(decodeWriteMultiple(data.subarray(0, 70)), { ok: false, reason: 'truncated' }, 'data cut short');
  const badPad = Buffer.from(data);
  badPad[66] = 1; // the padding after the first inner write's 2 bytes
  t.match(decodeWriteMultiple(badPad), { ok: false, reason: 'field-value' });
  t.match(decodeWriteMultiple(Buffer.concat([data, Buffer.from('00', 'hex')])), { ok: false });
});

t.test('a WriteMultiple carrying a write an explicit deny names is denied (review F3)', async (t) => {
  // The review's exact request: one inner write of 8 bytes to slot 3 / 1 / 0x0100, 72 bytes in all, which the
  // `0xE000-0xEFFF` entry of eng-ar-records used to allow by its outer index alone.
  const data = writeMultiple([{ slot: 3, index: 0x0100, hex: '0009000900090009' }]);
  t.equal(data.length, 72);
  const d = ev(outer(data));
  t.equal(d.effect, 'deny');
  t.equal(d.ruleId, 'no-ai-ranges');
  t.equal(d.code, 'explicit-deny');
  t.match(d.reason, /slot 3 subslot 0x0001 index 0x0100/);
  // the deny wins even when an allowed write comes first
  const mixed = writeMultiple([
    { slot: 1, index: 0x0100, hex: '0032' },
    { slot: 3, index: 0x0100, hex: '0009000900090009' },
  ]);
  t.equal(ev(outer(mixed)).ruleId, 'no-ai-ranges');
});

t.test('every inner write must be allowed, with its own length and value limits', async (t) => {
  const ok = ev(outer(writeMultiple([{ slot: 1, index: 0x0100, hex: '0032' }])));
  t.equal(ok.effect, 'allow');
  t.equal(ok.ruleId, 'eng-di-delay', 'the inner write grants, not the outer 0xE040 entry');
  t.same(ok.obligations?.rate, { ruleId: 'eng-di-delay', perSecond: 5 }, "the inner rule's rate applies");
  const value = ev(outer(writeMultiple([{ slot: 1, index: 0x0100, hex: '0fa0' }])));
  t.match(value, { effect: 'deny', code: 'value-not-allowed' });
  t.match(value.reason, /inner write 0 of WriteMultiple/);
  t.match(ev(outer(writeMultiple([{ slot: 1, index: 0x0100, hex: '003200' }]))), {
    effect: 'deny',
    code: 'length-not-allowed',
  });
  t.match(
    ev(
      outer(
        writeMultiple([
          { slot: 1, index: 0x0100, hex: '0032' },
          { slot: 1, index: 0x0102, hex: '00' },
        ]),
      ),
    ),
    {
      effect: 'deny',
      code: 'index-not-allowed',
    },
  );
});

t.test('an inner write only a JIT rule grants is refused: the grant is checked against the outer record', async (t) => {
  const d = ev(outer(writeMultiple([{ slot: 2, index: 0x0100, hex: '0032' }])));
  t.match(d, { effect: 'deny', code: 'container-not-judged' });
  t.match(d.reason, /needs a JIT grant of eng-jit/);
});

t.test('containers that cannot be judged are refused, even where a rule names them', async (t) => {
  const combined = ev(outer(Buffer.alloc(72), 0x80b0));
  t.match(combined, { effect: 'deny', code: 'container-not-judged', ruleId: null });
  t.match(combined.reason, /CombinedObjectContainer/);
  t.match(ev(outer(Buffer.alloc(72))), { effect: 'deny', code: 'malformed-request' }, 'undecodable WriteMultiple');
  const nested = ev(outer(writeMultiple([{ slot: 0, index: 0xe040, hex: '00000000' }])));
  t.match(nested, { effect: 'deny', code: 'container-not-judged' });
  const shadowMode = compilePolicyText(POLICY.replace('rules:', 'mode: shadow\nrules:'), 'policy.yaml');
  t.match(ev(outer(Buffer.alloc(72), 0x80b0), shadowMode), { effect: 'deny' }, 'shadow mode does not lift it');
  t.equal(ev({ access: 'read', api: 0, slot: 0, subslot: 1, index: 0xe040, length: 72 }).code, 'index-not-allowed');
});

t.test('the record.decision of a WriteMultiple lists the writes it carries', async (t) => {
  const data = writeMultiple([
    { slot: 1, index: 0x0100, hex: '0032' },
    { slot: 3, index: 0x0100, hex: '0009000900090009' },
  ]);
  const session = { id: 's1', peer: { id: ENG.id, role: null } } as unknown as Session;
  const verdict = { effect: 'deny', ruleId: 'no-ai-ranges', reason: 'explicit-deny', code: 'explicit-deny' };
  const e = recordDecisionEvent(
    { session, device: DEVICE, request: outer(data) },
    verdict as Verdict,
    { outcome: 'denied' },
    'denied',
    {
      latencyMs: 0,
      policyVersion: 'v',
    },
  );
  t.match(e, {
    type: 'record.decision',
    index: 0xe040,
    inner: [
      { api: 0, slot: 1, subslot: 1, index: 0x0100, length: 2 },
      { api: 0, slot: 3, subslot: 1, index: 0x0100, length: 8 },
    ],
  });
});

t.test('a rate-limited rule grants at most one write of a WriteMultiple (one token per request)', async (t) => {
  // The runtime charges each granting rule once per request: 256 copies of a `rate: 5/s` write packed into one
  // WriteMultiple would otherwise run 256 writes for one token.
  const twice = ev(
    outer(
      writeMultiple([
        { slot: 1, index: 0x0100, hex: '0032' },
        { slot: 1, index: 0x0100, hex: '0033' },
      ]),
    ),
  );
  t.match(twice, { effect: 'deny', code: 'container-not-judged' });
  t.match(twice.reason, /rule eng-di-delay has a rate/);
  t.equal(ev(outer(writeMultiple([{ slot: 1, index: 0x0100, hex: '0032' }]))).effect, 'allow', 'once is fine');
});
