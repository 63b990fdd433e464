/**
 * Fuzz: the PROFINET upstream client against a hostile "device" on loopback UDP that answers every request
 * with random, mutated, misaddressed-in-content, fragmented-and-shuffled or valid datagrams — 100,000 in
 * all (seeded; FUZZ_SEED to replay). Properties: no operation rejects or throws; every operation settles
 * (timeouts are driven through fake timers, a bounded number of turns per operation); a `record` result
 * is only ever the data of an answer that an independent check (the codec: header, call match,
 * reassembly, NDR, blocks, validation against the request, status OK) finds valid.
 */
import { createSocket, type Socket } from 'node:dgram';
import t from 'tap';
import {
  answersCall,
  decodeCmRequest,
  decodeCmResponse,
  decodeRpcDatagram,
  encodeCmResponse,
  encodeFaultBody,
  encodeRpcDatagram,
  FragmentAssembler,
  isPnioOk,
  PacketType,
  validateCmResponse,
  type CmRequest,
  type RpcHeader,
} from '../../protocols/profinet/index.js';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import type { IdentityResult, ProfinetResult } from '../../gateway/upstream/profinet-types.js';
import { mulberry32, type Rng } from '../fixtures/modbus/random-requests.js';
import { randomResponse } from '../fixtures/profinet/random-pdus.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eedc11e);
const TOTAL = 100_000;
const TIMEOUT_MS = 1000;

interface Batch {
  readonly header: RpcHeader;
  readonly request: CmRequest;
  readonly datagrams: Buffer[];
}

/** Offsets worth hitting: RPC type/flags/DREP, activity, sequence, opnum, length, fragment; NDR; blocks. */
const HOT = [1, 2, 4, 40, 47, 64, 67, 68, 74, 75, 76, 77, 80, 83, 84, 88, 92, 96, 100, 102, 104, 106, 120, 130];

function mutate(r: Rng, dg: Buffer): Buffer {
  const b = Buffer.from(dg);
  switch (r.int(0, 6)) {
    case 0:
      if (b.length > 0) b[r.int(0, b.length - 1)] = r.int(0, 255);
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
      // Keep the RPC length consistent so the damage reaches NDR, blocks and record checks.
      const cut = Buffer.from(b.subarray(0, Math.max(80, r.int(80, b.length))));
      if (cut.length >= 80) {
        if (cut[4] === 0x10) cut.writeUInt16LE(cut.length - 80, 74);
        else cut.writeUInt16BE(cut.length - 80, 74);
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

function shuffle<T>(r: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/** The hostile answers to one request. */
function hostileBatch(r: Rng, header: RpcHeader, request: CmRequest): Buffer[] {
  const valid = (o: { le?: boolean; frag?: number } = {}): Buffer[] =>
    encodeCmResponse(header, randomResponse(r, request), {
      maximumCount: request.argsMaximum,
      littleEndian: o.le ?? r.next() < 0.3,
      maxFragmentBody: o.frag ?? 1392,
    }).datagrams;
  const n = r.int(4, 40);
  switch (r.int(0, 6)) {
    case 0: // random bytes, sometimes behind a real header
      return Array.from({ length: n }, () =>
        r.next() < 0.5
          ? r.bytes(r.int(0, 300))
          : Buffer.concat([(valid()[0] ?? Buffer.alloc(0)).subarray(0, 80), r.bytes(r.int(0, 200))]),
      );
    case 1: // mutations of valid answers
      return Array.from({ length: n }, () => mutate(r, valid()[0] ?? Buffer.alloc(0)));
    case 2: // mutations, then one valid answer
      return [...Array.from({ length: n }, () => mutate(r, valid()[0] ?? Buffer.alloc(0))), ...valid()];
    case 3: {
      // fragmented: shuffled, duplicated, some mutated
      const frags = valid({ frag: r.int(8, 120) }).slice(0, 60);
      const out = shuffle(r, [...frags, ...frags.filter(() => r.next() < 0.2)]);
      return out.map((f) => (r.next() < 0.15 ? mutate(r, f) : f));
    }
    case 4: // other packet types of this call: fault/reject/working/nocall/request, random bodies
      return Array.from({ length: n }, () => {
        const packetType = r.pick([
          PacketType.Fault,
          PacketType.Reject,
          PacketType.Working,
          PacketType.NoCall,
          PacketType.Request,
          PacketType.Fack,
          PacketType.Ping,
          11,
        ]);
        const body = r.next() < 0.5 ? encodeFaultBody(r.int(0, 0xffffffff), false) : r.bytes(r.int(0, 40));
        return encodeRpcDatagram(
          { ...header, packetType, flags1: r.int(0, 255), littleEndian: false, bodyLength: 0 },
          body,
        );
      });
    case 5:
      return []; // silent
    default:
      return valid();
  }
}

/** Independent check: the record data of every answer in `batch` that is fully valid for its request. */
function validData(b: Batch): Set<string> {
  const out = new Set<string>();
  const asm = new FragmentAssembler({ maxCalls: 4 });
  for (const dg of b.datagrams) {
    const d = decodeRpcDatagram(dg);
    if (!d.ok || !answersCall(b.header, d.value.header).ok || d.value.header.packetType !== PacketType.Response)
      continue;
    const whole = asm.push(d.value.header, d.value.body);
    if (whole.kind !== 'complete') continue;
    const res = decodeCmResponse(whole.header, whole.body);
    if (!res.ok || !validateCmResponse(b.request, res.value).ok || !isPnioOk(res.value.status)) continue;
    out.add(
      res.value.op === 'read' || res.value.op === 'read-implicit' ? res.value.data.toString('hex') : `${res.value.op}`,
    );
  }
  return out;
}

t.test(`hostile device: ${TOTAL} datagrams (seed ${SEED})`, async (t) => {
  const r = mulberry32(SEED);
  const device: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => device.bind(0, '127.0.0.1', resolve));
  let sent = 0;
  let received = 0;
  let batches: Batch[] = [];
  device.on('message', (msg, rinfo) => {
    received++;
    const d = decodeRpcDatagram(msg);
    if (!d.ok || d.value.header.packetType !== PacketType.Request || sent >= TOTAL) return;
    const req = decodeCmRequest(d.value.header, d.value.body);
    if (!req.ok) return;
    const datagrams = hostileBatch(r, d.value.header, req.value).slice(0, TOTAL - sent);
    batches.push({ header: d.value.header, request: req.value, datagrams });
    for (const dg of datagrams) device.send(dg, rinfo.port, rinfo.address);
    sent += datagrams.length;
  });
  const timers = new FakeTimers();
  const client = new ProfinetClient({
    name: 'hostile',
    host: '127.0.0.1',
    port: device.address().port,
    timers,
    timeoutMs: TIMEOUT_MS,
    arIdleMs: 5000,
    arActivityTimeoutFactor: 100,
    queueLimit: 8,
  });
  t.teardown(async () => {
    // close() releases an open AR: the hostile device may stay silent, so drive the fake clock until it ends.
    let closed = false;
    const closing = client.close().then(() => (closed = true));
    for (let i = 0; i < 10 && !closed; i++) {
      timers.advance(TIMEOUT_MS);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await closing;
    device.close();
  });

  /** Waits (real time, bounded) until both sides have processed what the other sent. */
  const quiesce = async (): Promise<void> => {
    const until = Date.now() + 500;
    for (;;) {
      const s = client.stats();
      if (s.datagramsReceived >= sent && received >= s.datagramsSent + s.facksSent) return;
      if (Date.now() > until) return; // loopback loss under load: move on, timeouts take over
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  const kinds: Record<string, number> = {};
  let ops = 0;
  let recordsChecked = 0;
  const started = Date.now();
  while (sent < TOTAL) {
    batches = [];
    const results: (ProfinetResult | IdentityResult | undefined)[] = [];
    const ac = new AbortController();
    const group = Array.from({ length: r.int(1, 3) }, (_, i) => {
      const clientKey = `id-${r.int(0, 2)}`;
      const base = {
        clientKey,
        api: r.pick([0, 0, 0x10]),
        slot: r.int(0, 3),
        subslot: r.pick([1, 1, 0x8000]),
        index: r.pick([0xaff0, 0xf000, 0x800a, 0xf830, 0x0010]),
        signal: ac.signal,
      };
      const which = r.int(0, 9);
      const p: Promise<ProfinetResult | IdentityResult> =
        which < 5
          ? client.readRecord({ ...base, maxLength: r.pick([16, 64, 256, 4096, 65535]) })
          : which < 7
            ? client.readRecord({ ...base, maxLength: r.pick([64, 4096]), viaAr: true })
            : which < 9
              ? client.writeRecord({ ...base, data: r.bytes(r.int(1, 64)) })
              : client.readIdentity({ clientKey });
      return p.then((v) => (results[i] = v));
    });
    const abortAt = r.next() < 0.05 ? r.int(0, 3) : -1;
    for (let turn = 0; results.filter((x) => x !== undefined).length < group.length; turn++) {
      if (turn > 40) t.fail(`operations did not settle after ${turn} timeouts (seed ${SEED})`);
      if (turn > 40) break;
      if (turn === abortAt) ac.abort();
      await quiesce();
      if (results.filter((x) => x !== undefined).length === group.length) break;
      timers.advance(TIMEOUT_MS);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(group);
    const allValid = new Set<string>();
    for (const b of batches) for (const v of validData(b)) allValid.add(v);
    for (const res of results) {
      if (res === undefined) continue;
      ops++;
      kinds[res.kind] = (kinds[res.kind] ?? 0) + 1;
      if (res.kind !== 'record') continue;
      recordsChecked++;
      const key = res.data.length > 0 ? res.data.toString('hex') : 'write';
      if (!allValid.has(key) && !(res.data.length === 0 && allValid.has(''))) {
        t.fail(`a record result no valid answer carried (seed ${SEED}): ${key.slice(0, 64)}`);
      }
    }
  }
  const s = client.stats();
  t.equal(sent, TOTAL, `${TOTAL} hostile datagrams sent`);
  t.ok(ops > 1000, `${ops} operations, all settled`);
  t.ok(recordsChecked > 0, 'some answers were valid and came back as records');
  t.ok(
    (kinds['malformed-answer'] ?? 0) > 0 && (kinds.timeout ?? 0) > 0 && (kinds['pnio-error'] ?? 0) > 0,
    'malformed, silent and error answers all seen',
  );
  t.comment(`results ${JSON.stringify(kinds)}`);
  t.comment(
    `dropped ${JSON.stringify(s.dropped)}; received ${s.datagramsReceived}, sent ${s.datagramsSent}, facks ${s.facksSent}; ${Date.now() - started} ms`,
  );
});
