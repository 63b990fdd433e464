/**
 * Request classification for policy [docs/architecture.md "Request path" 4]: which table ranges a request reads and
 * writes, and what kind of operation it is. Every request classifies (never throws); diagnostics, user-defined and
 * unknown codes carry no ranges so that a policy built on ranges cannot allow them by accident.
 */
import { ADDRESS_SPACE, MAX_FIFO_COUNT, MEI_READ_DEVICE_ID } from './limits.js';
import { isSerialDiagnosticFc, isUserDefinedFc } from './function-codes.js';
import type { ModbusRequest } from './request-types.js';
import type { ClassifiedRequest, ReadRange, RequestKind, Table, WriteRange } from './types.js';

const READ_TABLE: Record<1 | 2 | 3 | 4, Table> = { 1: 'coils', 2: 'discrete', 3: 'holding', 4: 'input' };

type Parts = Omit<ClassifiedRequest, 'fc' | 'unit'>;

function read(table: Table, start: number, count: number): ReadRange {
  return { table, start, count };
}

function write(table: Table, start: number, values: readonly number[] | null, count = values?.length ?? 0): WriteRange {
  return { table, start, count, values };
}

function parts(kind: RequestKind, reads: ReadRange[] = [], writes: WriteRange[] = [], subFunction?: number): Parts {
  return subFunction === undefined ? { kind, reads, writes } : { kind, reads, writes, subFunction };
}

/** Kind of a code with no structured decode: by number [MB-APP 5.1]. */
function kindOfCode(fc: number): RequestKind {
  if (isSerialDiagnosticFc(fc) || fc === 8) return 'diagnostic';
  if (isUserDefinedFc(fc)) return 'user-defined';
  return 'unknown';
}

function classifyParts(req: ModbusRequest): Parts {
  switch (req.type) {
    case 'read-bits':
    case 'read-registers':
      return parts('read', [read(READ_TABLE[req.fc], req.address, req.quantity)]);
    case 'write-single-coil':
      return parts('write', [], [write('coils', req.address, [req.value ? 1 : 0])]);
    case 'write-single-register':
      return parts('write', [], [write('holding', req.address, [req.value])]);
    case 'write-multiple-coils':
      return parts(
        'write',
        [],
        [
          write(
            'coils',
            req.address,
            req.values.map((v) => (v ? 1 : 0)),
          ),
        ],
      );
    case 'write-multiple-registers':
      return parts('write', [], [write('holding', req.address, [...req.values])]);
    case 'mask-write-register':
      // The resulting value depends on the current one: unknown without a read [MB-APP 6.16].
      return parts('write', [], [write('holding', req.address, null, 1)]);
    case 'read-write-registers':
      // Listed write first: the write happens before the read [MB-APP 6.17].
      return parts(
        'read-write',
        [read('holding', req.readAddress, req.readQuantity)],
        [write('holding', req.writeAddress, [...req.values])],
      );
    case 'read-fifo':
      // The FIFO count register plus up to 31 queued registers follow the pointer [MB-APP 6.18]; the real
      // depth is only known after the read, so claim the whole possible window.
      return parts('fifo', [read('holding', req.address, Math.min(MAX_FIFO_COUNT + 1, ADDRESS_SPACE - req.address))]);
    case 'file-record':
      // Files are outside the four tables; policy decides on the kind.
      return parts('file-record');
    case 'device-id':
      return parts('device-id', [], [], MEI_READ_DEVICE_ID);
    case 'diagnostics':
      return parts('diagnostic', [], [], req.subFunction);
    case 'serial-diagnostic':
      return parts('diagnostic');
    case 'other':
      // FC43 with another MEI type (e.g. 13, CANopen, which can write) is not a device-id read.
      if (req.fc === 43) return parts('unknown', [], [], req.data[0]);
      return parts(kindOfCode(req.fc));
  }
}

export function classify(req: ModbusRequest, unit: number): ClassifiedRequest {
  // The everyday request (FC1–4) as one literal, without the parts object and its spread (every request runs this).
  if (req.type === 'read-bits' || req.type === 'read-registers')
    return {
      fc: req.fc,
      unit,
      kind: 'read',
      reads: [read(READ_TABLE[req.fc], req.address, req.quantity)],
      // a fresh [] (not a shared frozen one: V8's for-of over a frozen array takes a slow, allocating path)
      writes: [],
    };
  return { fc: req.fc, unit, ...classifyParts(req) };
}

/** FC8 sub-function 0x0000: return query data (an echo, no effect) [MB-APP 6.8.1]. */
const DIAG_RETURN_QUERY_DATA = 0;

/**
 * May this request change the device? True unless it is on an allow-list of codes that only read: FC1–4,
 * FC20 (read file record), FC24 (read FIFO), FC43/14 (device identification), the serial diagnostic reads
 * FC7/11/12/17, and FC8 sub-function 0 (echo). Everything else — writes, FC21, other FC8 sub-functions
 * (restart, listen-only), user-defined and unknown codes — counts as mutating: a read-only session must
 * refuse what it cannot prove harmless.
 */
export function isMutating(c: ClassifiedRequest): boolean {
  if (c.writes.length > 0) return true;
  switch (c.kind) {
    case 'read':
    case 'fifo':
    case 'device-id':
      return false;
    case 'file-record':
      return c.fc !== 20;
    case 'diagnostic':
      return c.fc === 8 && c.subFunction !== DIAG_RETURN_QUERY_DATA;
    default:
      return true;
  }
}
