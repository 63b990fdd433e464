/**
 * `verigate profinet read|write|identity`: PROFINET IO record services through the gateway's gRPC
 * `Profinet` service, with the caller's OWN SVID (the gateway judges the SPIFFE ID it verified):
 *   verigate profinet identity --device rio-1
 *   verigate profinet read  --device rio-1 [--api 0] --slot 1 --subslot 1 --index 0x800a [--length 4096]
 *   verigate profinet write --device rio-1 [--api 0] --slot 1 --subslot 1 --index 0x0100 --data 0032
 * Options, target resolution, the pinned gateway ID and exit codes are the admin verbs' (grpc-command.ts):
 * 0 ok, 1 the call failed or was refused (the status, e.g. FAILED_PRECONDITION with the device's
 * PNIOStatus, is printed), 2 bad usage. A record the codec knows (I&M0–3, RealIdentificationData, diagnosis,
 * logbook) is printed decoded with the codec's record parsers; any other record as hex.
 */
import { decodeRecord, MAX_RECORD_LENGTH } from '../../protocols/profinet/index.js';
import type {
  DeviceIdentityMessage,
  Im0Message,
  ReadRecordResponse,
  WriteRecordResponse,
} from '../frontdoor/grpc-proto.js';
import { im0Message } from '../frontdoor/grpc-profinet-service.js';
import { makeCommand, need, UsageError, type Sub, type Values } from './grpc-command.js';

const hex = (n: number, digits: number): string => `0x${n.toString(16).padStart(digits, '0')}`;

/** Decimal or 0x-hex, within 0..max (record indices are usually written in hex). */
function num(v: Values, name: string, max: number, fallback?: number): number {
  const text = v[name];
  if (text === undefined && fallback !== undefined) return fallback;
  const s = need(v, name).trim();
  const n = /^(0x[0-9a-f]+|[0-9]+)$/i.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    throw new UsageError(`--${name} must be an integer 0..${max} (decimal or 0x hex), got "${s}"`);
  return n;
}

/** `--data`: hex bytes, optionally 0x-prefixed, spaces and colons ignored (as `policy explain --data`). */
function hexData(v: Values): Buffer {
  const s = need(v, 'data').replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (!/^([0-9a-f]{2})+$/i.test(s))
    throw new UsageError(`--data must be hex bytes like 0032 or "00:32", got "${String(v['data'])}"`);
  const data = Buffer.from(s, 'hex');
  if (data.length > MAX_RECORD_LENGTH)
    throw new UsageError(`--data holds ${data.length} bytes; a record write carries at most ${MAX_RECORD_LENGTH}`);
  return data;
}

function address(v: Values): { device: string; api: number; slot: number; subslot: number; index: number } {
  return {
    device: need(v, 'device'),
    api: num(v, 'api', 0xffffffff, 0),
    slot: num(v, 'slot', 0xffff),
    subslot: num(v, 'subslot', 0xffff),
    index: num(v, 'index', 0xffff),
  };
}

const where = (a: ReturnType<typeof address>): string =>
  `${a.device} api ${a.api} slot ${a.slot} subslot ${hex(a.subslot, 4)} index ${hex(a.index, 4)}`;

export function im0Lines(m: Im0Message): string[] {
  return [
    'I&M0',
    `  vendor id         ${hex(m.vendorId, 4)}`,
    `  order id          ${m.orderId}`,
    `  serial number     ${m.serialNumber}`,
    `  hardware revision ${m.hardwareRevision}`,
    `  software revision ${m.softwareRevision}`,
    `  revision counter  ${m.revisionCounter}`,
    `  profile           ${hex(m.profileId, 4)} (specific type ${hex(m.profileSpecificType, 4)})`,
    `  I&M version       ${m.imVersion}`,
    `  I&M supported     ${
      [1, 2, 3, 4]
        .filter((i) => (m.imSupported >> i) & 1)
        .map((i) => `I&M${i}`)
        .join(', ') || 'none'
    } (${hex(m.imSupported, 4)})`,
  ];
}

export function identityLines(device: string, id: DeviceIdentityMessage): string[] {
  const modules = id.modules.flatMap((m) => [
    `  api ${m.api} slot ${m.slot} module ${hex(m.moduleIdentNumber, 8)}`,
    ...m.submodules.map((s) => `    subslot ${hex(s.subslot, 4)} submodule ${hex(s.submoduleIdentNumber, 8)}`),
  ]);
  return [
    `${device}`,
    ...im0Lines(id.im0),
    'modules (RealIdentificationData)',
    ...(modules.length ? modules : ['  none']),
  ];
}

/** Buffers (opaque records, manufacturer data) as hex in JSON and text. */
const bufferAsHex = (_k: string, v: unknown): unknown =>
  v &&
  typeof v === 'object' &&
  (v as { type?: unknown }).type === 'Buffer' &&
  Array.isArray((v as { data?: unknown }).data)
    ? Buffer.from((v as { data: number[] }).data).toString('hex')
    : v;

/** What `read` prints under the hex: the codec's parse of the record (null: an index it does not parse). */
function decodedOf(index: number, data: Buffer): { kind: string; value?: unknown; reason?: string } | null {
  const d = decodeRecord(index, data);
  if (!d.ok) return { kind: 'undecodable', reason: d.detail };
  if (d.value.kind === 'opaque') return null;
  if (d.value.kind === 'im0') return { kind: 'im0', value: im0Message(d.value.value) };
  return { kind: d.value.kind, value: d.value.value };
}

const SUBS: Record<string, Sub> = {
  identity: async (v, pos, c) => {
    if (pos.length) throw new UsageError('profinet identity takes no positional arguments');
    const device = need(v, 'device');
    const r = await c.call<DeviceIdentityMessage>('ReadIdentity', { device });
    return c.report(
      r,
      (id) => identityLines(device, id),
      undefined,
      (id) => ({ device, ...id }),
    );
  },
  read: async (v, pos, c) => {
    if (pos.length) throw new UsageError('profinet read takes no positional arguments');
    const a = address(v);
    const maxLength = num(v, 'length', MAX_RECORD_LENGTH, 4096);
    if (maxLength === 0) throw new UsageError(`--length must be 1..${MAX_RECORD_LENGTH}`);
    const r = await c.call<ReadRecordResponse>('ReadRecord', { ...a, maxLength });
    return c.report(
      r,
      (x) => {
        const decoded = decodedOf(a.index, x.data);
        const head = [`${where(a)}: ${x.data.length} bytes`, `  ${x.data.toString('hex') || '(empty)'}`];
        if (!decoded) return head;
        if (decoded.kind === 'im0') return [...head, ...im0Lines(decoded.value as Im0Message)];
        if (decoded.kind === 'undecodable')
          return [...head, `  (not a valid record for this index: ${decoded.reason ?? ''})`];
        return [
          ...head,
          `${decoded.kind}:`,
          ...JSON.stringify(decoded.value, bufferAsHex, 2)
            .split('\n')
            .map((l) => `  ${l}`),
        ];
      },
      undefined,
      (x) =>
        JSON.parse(
          JSON.stringify(
            { ...a, length: x.data.length, data: x.data.toString('hex'), decoded: decodedOf(a.index, x.data) },
            bufferAsHex,
          ),
        ),
    );
  },
  write: async (v, pos, c) => {
    if (pos.length) throw new UsageError('profinet write takes no positional arguments');
    const a = address(v);
    const data = hexData(v);
    const r = await c.call<WriteRecordResponse>('WriteRecord', { ...a, data });
    return c.report(
      r,
      (x) => [`wrote ${x.length} bytes to ${where(a)}`],
      undefined,
      (x) => ({ ...a, length: x.length }),
    );
  },
};

export const profinetCommand = makeCommand({
  name: 'profinet',
  service: 'Profinet',
  usage: [
    'usage: verigate profinet identity --device D',
    '       verigate profinet read  --device D [--api 0] --slot N --subslot N --index N [--length 4096]',
    '       verigate profinet write --device D [--api 0] --slot N --subslot N --index N --data HEX',
    'numbers are decimal or 0x hex; identity reads I&M0 (0xAFF0) and RealIdentificationData (0xF000) at slot 0',
    'subslot 1 and prints them decoded; read prints a record the codec knows decoded as well as in hex.',
  ].join('\n'),
  options: {
    device: { type: 'string' },
    api: { type: 'string' },
    slot: { type: 'string' },
    subslot: { type: 'string' },
    index: { type: 'string' },
    length: { type: 'string' },
    data: { type: 'string' },
  },
  subs: SUBS,
});
