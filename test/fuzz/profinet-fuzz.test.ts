/**
 * Fuzz: 100,000 random and mutated PNIO-CM datagrams (requests and answers, both byte orders, fragmented
 * or whole) through decodeRpcDatagram → FragmentAssembler → decodeCmRequest / decodeCmResponse →
 * validateCmResponse → decodeRecord. Properties: nothing throws; every refusal carries a known reason and a
 * detail; unmutated requests decode to themselves; the assembler never holds more than its bounds
 * (calls ≤ maxCalls, bytes ≤ maxCalls × maxBytes). Seeded (FUZZ_SEED to replay); the seed is printed with
 * any failure.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import {
  decodeCmRequest,
  decodeCmResponse,
  decodeRecord,
  decodeRpcDatagram,
  encodeCmRequest,
  encodeCmResponse,
  FragmentAssembler,
  PacketType,
  validateCmResponse,
  type CmRequest,
  type Decoded,
} from '../../protocols/profinet/index.js';
import { mulberry32, type Rng } from '../fixtures/modbus/random-requests.js';
import { randomRecord, randomRequest, randomResponse, uuidOf } from '../fixtures/profinet/random-pdus.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x9e7f1e55);
const ITERATIONS = 100_000;
const REASONS = new Set([
  'truncated',
  'trailing-bytes',
  'rpc-version',
  'packet-type',
  'drep',
  'auth',
  'ndr',
  'block-type',
  'block-length',
  'block-version',
  'field-value',
  'mismatch',
  'fragment',
  'too-large',
]);
const BOUNDS = { maxCalls: 4, maxBytes: 4096, maxFragments: 16, timeoutMs: 50 };

function check<T>(d: Decoded<T>, stats: Record<string, number>, stage: string): d is { ok: true; value: T } {
  if (!d.ok) {
    if (!REASONS.has(d.reason) || d.detail === '') throw new Error(`${stage}: bad refusal ${JSON.stringify(d)}`);
    stats[`${stage}:${d.reason}`] = (stats[`${stage}:${d.reason}`] ?? 0) + 1;
  }
  return d.ok;
}

/** Offsets worth hitting: RPC length/fragment/flags, NDR lengths, block type/length, record fields. */
const HOT = [
  0, 1, 2, 4, 5, 68, 74, 75, 76, 77, 78, 80, 84, 88, 92, 96, 100, 102, 103, 104, 105, 130, 131, 132, 133, 134, 135,
];

function mutate(r: Rng, dg: Buffer): Buffer {
  const b = Buffer.from(dg);
  switch (r.int(0, 6)) {
    case 0:
      b[r.int(0, b.length - 1)] = r.int(0, 255);
      return b;
    case 1: {
      const at = r.pick(HOT);
      if (at < b.length) b[at] = r.pick([0, 1, 0xff, r.int(0, 255), (b[at] ?? 0) + 1, (b[at] ?? 0) - 1]) & 0xff;
      return b;
    }
    case 2:
      return b.subarray(0, r.int(0, b.length));
    case 3:
      return Buffer.concat([b, r.bytes(r.int(1, 16))]);
    case 4: {
      // Keep the RPC length consistent so the damage reaches the NDR and block decoders.
      const cut = b.subarray(0, Math.max(80, r.int(80, b.length)));
      if (cut.length >= 80) {
        cut.writeUInt16BE(cut.length - 80, 74);
        cut[4] = 0;
      }
      return cut;
    }
    case 5:
      if (b.length > 100) b.writeUInt32BE(r.int(0, 0xffff), r.pick([84, 88, 92, 96]));
      return b;
    default:
      b.fill(r.int(0, 255), r.int(80, Math.max(80, b.length - 1)), b.length);
      return b;
  }
}

t.test(`${ITERATIONS} random and mutated datagrams (seed ${SEED})`, async (t) => {
  const r = mulberry32(SEED);
  const stats: Record<string, number> = {};
  let now = 0;
  const assembler = new FragmentAssembler({ ...BOUNDS, now: () => now });
  let maxHeld = 0;
  let sent = 0;
  for (let i = 0; sent < ITERATIONS; i++) {
    now += r.int(0, 5);
    const req = randomRequest(r);
    const le = r.next() < 0.5;
    const frag = r.next() < 0.3 ? r.int(16, 400) : 1392;
    const call = {
      activityUuid: uuidOf(r),
      sequenceNumber: r.int(0, 0xffffffff),
      objectUuid: uuidOf(r),
      littleEndian: le,
    };
    const { header, datagrams: reqDgs } = encodeCmRequest(call, req, frag);
    const roll = r.next();
    let dgs: Buffer[];
    if (roll < 0.05) dgs = [r.bytes(r.int(0, 200))];
    else if (roll < 0.4) dgs = reqDgs;
    else
      dgs = encodeCmResponse(header, randomResponse(r, req), {
        maximumCount: req.argsMaximum,
        littleEndian: r.next() < 0.3,
        maxFragmentBody: frag,
      }).datagrams;
    const mutated = roll >= 0.05 && r.next() < 0.6;
    if (mutated) dgs = dgs.map((d) => (r.next() < 0.5 ? mutate(r, d) : d));
    if (r.next() < 0.2) dgs = [...dgs].sort(() => r.next() - 0.5);
    if (r.next() < 0.1) dgs = [...dgs, ...dgs.slice(0, r.int(1, 3))];
    try {
      for (const dg of dgs) {
        sent++;
        runOne(dg, req, !mutated && roll < 0.4, assembler, stats);
        maxHeld = Math.max(maxHeld, assembler.bufferedBytes);
        if (assembler.calls > BOUNDS.maxCalls || assembler.bufferedBytes > BOUNDS.maxCalls * BOUNDS.maxBytes)
          throw new Error(`assembler over its bounds: ${assembler.calls} calls, ${assembler.bufferedBytes} bytes`);
      }
      if (r.next() < 0.1) fuzzRecord(r, stats);
    } catch (err) {
      t.fail(
        `iteration ${i} (seed ${SEED}) datagrams ${dgs.map((d) => d.toString('hex')).join(' ')}: ${(err as Error).stack}`,
      );
      return;
    }
  }
  t.ok(
    maxHeld <= BOUNDS.maxCalls * BOUNDS.maxBytes,
    `reassembly held at most ${maxHeld} bytes (bound ${BOUNDS.maxCalls * BOUNDS.maxBytes})`,
  );
  for (const k of [
    'request-ok',
    'response-ok',
    'rpc:truncated',
    'rpc:trailing-bytes',
    'rpc:drep',
    'rpc:rpc-version',
    'assembly:fragment',
    'assembly:too-large',
    'request:ndr',
    'response:ndr',
    'request:block-length',
    'response:truncated',
    'validate:mismatch',
    'record-ok',
    'record:truncated',
  ]) {
    t.ok((stats[k] ?? 0) > 0, `outcome "${k}" reached (${stats[k] ?? 0})`);
  }
  t.ok(
    assembler.stats.completed > 1000 &&
      assembler.stats.duplicates > 0 &&
      assembler.stats.evicted + assembler.stats.expired > 0,
    `assembler ${JSON.stringify(assembler.stats)}`,
  );
});

function runOne(
  dg: Buffer,
  req: CmRequest,
  pristine: boolean,
  a: FragmentAssembler,
  stats: Record<string, number>,
): void {
  const d = decodeRpcDatagram(dg);
  if (!check(d, stats, 'rpc')) return;
  const got = a.push(d.value.header, d.value.body);
  if (got.kind === 'dropped') {
    check({ ok: false, reason: got.reason, detail: got.detail }, stats, 'assembly');
    return;
  }
  if (got.kind !== 'complete') return;
  if (got.header.packetType === PacketType.Request) {
    const q = decodeCmRequest(got.header, got.body);
    if (!check(q, stats, 'request')) return;
    stats['request-ok'] = (stats['request-ok'] ?? 0) + 1;
    if (pristine && !isDeepStrictEqual(q.value, req))
      throw new Error(`request changed: ${JSON.stringify(q.value)} vs ${JSON.stringify(req)}`);
    return;
  }
  const s = decodeCmResponse(got.header, got.body);
  if (!check(s, stats, 'response')) return;
  stats['response-ok'] = (stats['response-ok'] ?? 0) + 1;
  check(validateCmResponse(req, s.value), stats, 'validate');
  if ((s.value.op === 'read' || s.value.op === 'read-implicit') && s.value.record) {
    if (check(decodeRecord(s.value.record.index, s.value.data), stats, 'record'))
      stats['record-ok'] = (stats['record-ok'] ?? 0) + 1;
  }
}

function fuzzRecord(r: Rng, stats: Record<string, number>): void {
  const index = r.pick([0xaff0, 0xaff1, 0xaff2, 0xaff3, 0xf000, 0x800a, 0xf80c, 0xf830]);
  const b = Buffer.from(randomRecord(r, index));
  if (b.length > 0) b[r.int(0, b.length - 1)] = r.int(0, 255);
  check(decodeRecord(index, r.next() < 0.3 ? b.subarray(0, r.int(0, b.length)) : b), stats, 'record');
}

t.test('fast-check: any bytes into every decoder never throw', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 400 }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.boolean(),
      (bytes, index, le) => {
        const b = Buffer.from(bytes);
        const d = decodeRpcDatagram(b);
        const a = new FragmentAssembler({ maxCalls: 1, maxBytes: 256 });
        if (d.ok) a.push(d.value.header, d.value.body);
        for (const opnum of [0, 1, 2, 3, 5]) {
          const h = {
            packetType: 0,
            flags1: 0,
            flags2: 0,
            littleEndian: le,
            serial: 0,
            objectUuid: '',
            interfaceUuid: 'dea00001-6c97-11d1-8271-00a02442df7d',
            activityUuid: '',
            serverBoot: 0,
            interfaceVersion: 1,
            sequenceNumber: 0,
            opnum,
            interfaceHint: 0,
            activityHint: 0,
            bodyLength: b.length,
            fragmentNumber: 0,
          };
          decodeCmRequest(h, b);
          decodeCmResponse({ ...h, packetType: 2 }, b);
        }
        decodeRecord(index, b);
        for (const i of [0xaff0, 0xaff1, 0xaff2, 0xaff3, 0xf000, 0x800a, 0xf830]) decodeRecord(i, b);
        return a.bufferedBytes <= 256;
      },
    ),
    { seed: SEED, numRuns: 5000 },
  );
  t.pass('5000 properties held');
});

t.test('hostile fragment flood: reassembly memory stays within maxCalls × maxBytes', async (t) => {
  const r = mulberry32(SEED ^ 0x5a5a);
  const a = new FragmentAssembler({ ...BOUNDS, timeoutMs: 1e9 });
  const activities = Array.from({ length: 5 }, () => uuidOf(r));
  let peak = 0;
  for (let i = 0; i < 20_000; i++) {
    const header = {
      packetType: 2,
      flags1: 0x04,
      flags2: 0,
      littleEndian: false,
      serial: 0,
      objectUuid: '',
      interfaceUuid: '',
      activityUuid: r.pick(activities),
      serverBoot: 0,
      interfaceVersion: 1,
      sequenceNumber: 0,
      opnum: 5,
      interfaceHint: 0,
      activityHint: 0,
      bodyLength: 0,
      fragmentNumber: r.int(0, 16),
    };
    a.push(header, Buffer.alloc(r.int(0, 600), i & 0xff));
    peak = Math.max(peak, a.bufferedBytes);
    if (a.calls > BOUNDS.maxCalls || a.bufferedBytes > BOUNDS.maxCalls * BOUNDS.maxBytes)
      throw new Error(`over bounds at ${i}`);
  }
  t.ok(peak > BOUNDS.maxBytes, `peak ${peak} bytes held, bound ${BOUNDS.maxCalls * BOUNDS.maxBytes}`);
  t.ok(a.stats.dropped > 0 && a.stats.evicted > 0, `flood dropped ${a.stats.dropped}, evicted ${a.stats.evicted}`);
});
