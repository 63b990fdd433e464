/**
 * Executes one decoded request against the unit's RegisterStore, as the PLC's Modbus task does
 * [MB-APP 6.x state diagrams]: function code (01) → quantity and value (03) → address (02) → execution (04),
 * and nothing is written unless the whole request is valid. The codec checks quantities and the 16-bit
 * address space; this handler checks the function code first and the unit's own memory map after. Supported: FC 1, 2, 3, 4, 5, 6, 15, 16, 22, 23 (write before read), 24, 43/14 (basic
 * identification objects). Everything else answers 01. Counters record every register actually written.
 */
import { decodeRequest, encodeResponse, exceptionPdu } from '../protocols/modbus/index.js';
import type {
  MaskWriteRegisterRequest,
  ModbusRequest,
  ModbusResponse,
  ReadBitsRequest,
  ReadFifoRequest,
  ReadRegistersRequest,
  ReadWriteRegistersRequest,
  WriteMultipleCoilsRequest,
  WriteMultipleRegistersRequest,
  WriteSingleCoilRequest,
  WriteSingleRegisterRequest,
} from '../protocols/modbus/index.js';
import { ExceptionCode, type Table } from '../protocols/modbus/types.js';
import { readDeviceId } from './device-id.js';
import type { PlcMemory } from './plc-memory.js';
import type { RegisterStore } from './register-store.js';
import type { DeviceIdentification, Scenario } from './scenario.js';
import type { CounterSet } from './sim-counters.js';

type Outcome =
  { readonly ok: true; readonly res: ModbusResponse } | { readonly ok: false; readonly exception: ExceptionCode };

const ILLEGAL_FUNCTION = { ok: false, exception: ExceptionCode.IllegalFunction } as const;
const BIT_TABLE: Record<1 | 2, Table> = { 1: 'coils', 2: 'discrete' };
const WORD_TABLE: Record<3 | 4, Table> = { 3: 'holding', 4: 'input' };
const MAX_FIFO = 31;
/** The function codes this PLC implements; any other answers 01 before its bytes are looked at. */
const SUPPORTED = new Set([1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 24, 43]);

export const DEFAULT_DEVICE_ID: DeviceIdentification = {
  vendorName: 'verigate',
  productCode: 'SIM-PLC',
  revision: '1.0',
};

export interface RequestHandlerDeps {
  readonly memory: PlcMemory;
  readonly scenario: Scenario;
  readonly counters: CounterSet;
}

/** Builds the PlcServer `handle` callback: PDU in, response PDU (or null for no response) out. */
export function createRequestHandler(deps: RequestHandlerDeps): (unit: number, pdu: Buffer) => Buffer | null {
  const device = deps.scenario.device ?? DEFAULT_DEVICE_ID;
  return (unit, pdu) => {
    const fc = pdu[0] ?? 0;
    const store = deps.memory.lookup(unit);
    if (!store) {
      // Like a Modbus gateway with no such target [MB-APP 7, code 0x0B] — or silence, as configured.
      return deps.scenario.unknownUnit === 'ignore'
        ? null
        : exceptionPdu(fc, ExceptionCode.GatewayTargetFailedToRespond);
    }
    // Function code first [MB-APP 6.x]: an unsupported code is 01 even when its bytes are also malformed.
    if (!SUPPORTED.has(fc)) return exceptionPdu(fc, ExceptionCode.IllegalFunction);
    const decoded = decodeRequest(pdu);
    if (!decoded.ok) return exceptionPdu(fc, decoded.exception);
    const out = execute(store, decoded.value, device, deps.counters);
    return out.ok ? encodeResponse(out.res) : exceptionPdu(fc, out.exception);
  };
}

export function execute(
  store: RegisterStore,
  req: ModbusRequest,
  device: DeviceIdentification,
  counters: CounterSet,
): Outcome {
  switch (req.type) {
    case 'read-bits':
      return readBits(store, req);
    case 'read-registers':
      return readRegisters(store, req);
    case 'write-single-coil':
    case 'write-single-register':
    case 'write-multiple-coils':
    case 'write-multiple-registers': {
      const w = plainWrite(req);
      return written(store, counters, w.table, req.address, w.values, w.res);
    }
    case 'mask-write-register':
      return maskWrite(store, counters, req);
    case 'read-write-registers':
      return readWrite(store, counters, req);
    case 'read-fifo':
      return readFifo(store, req);
    case 'device-id':
      return readDeviceId(req, device);
    default:
      return ILLEGAL_FUNCTION;
  }
}

function readBits(store: RegisterStore, req: ReadBitsRequest): Outcome {
  const r = store.read(BIT_TABLE[req.fc], req.address, req.quantity);
  return r.ok ? { ok: true, res: { type: 'read-bits', fc: req.fc, values: r.value.map((v) => v === 1) } } : r;
}

function readRegisters(store: RegisterStore, req: ReadRegistersRequest): Outcome {
  const r = store.read(WORD_TABLE[req.fc], req.address, req.quantity);
  return r.ok ? { ok: true, res: { type: 'read-registers', fc: req.fc, values: r.value } } : r;
}

type PlainWriteRequest =
  WriteSingleCoilRequest | WriteSingleRegisterRequest | WriteMultipleCoilsRequest | WriteMultipleRegistersRequest;

/** What a plain write stores and the echo it answers with [MB-APP 6.5, 6.6, 6.11, 6.12]. */
function plainWrite(req: PlainWriteRequest): { table: Table; values: readonly number[]; res: ModbusResponse } {
  const { address } = req;
  switch (req.type) {
    case 'write-single-coil':
      return { table: 'coils', values: [req.value ? 1 : 0], res: { type: req.type, fc: 5, address, value: req.value } };
    case 'write-single-register':
      return { table: 'holding', values: [req.value], res: { type: req.type, fc: 6, address, value: req.value } };
    case 'write-multiple-coils':
      return {
        table: 'coils',
        values: req.values.map((v) => (v ? 1 : 0)),
        res: { type: 'write-multiple', fc: 15, address, quantity: req.values.length },
      };
    case 'write-multiple-registers':
      return {
        table: 'holding',
        values: req.values,
        res: { type: 'write-multiple', fc: 16, address, quantity: req.values.length },
      };
  }
}

function maskWrite(store: RegisterStore, counters: CounterSet, req: MaskWriteRegisterRequest): Outcome {
  if (!store.inRange('holding', req.address, 1)) return addressError();
  // [MB-APP 6.16] result = (current AND and_mask) OR (or_mask AND (NOT and_mask))
  const cur = store.get('holding', req.address);
  const next = ((cur & req.andMask) | (req.orMask & ~req.andMask)) & 0xffff;
  return written(store, counters, 'holding', req.address, [next], {
    type: 'mask-write-register',
    fc: 22,
    address: req.address,
    andMask: req.andMask,
    orMask: req.orMask,
  });
}

/** Both ranges are checked before anything changes; then the write, then the read [MB-APP 6.17]. */
function readWrite(store: RegisterStore, counters: CounterSet, req: ReadWriteRegistersRequest): Outcome {
  if (
    !store.inRange('holding', req.writeAddress, req.values.length) ||
    !store.inRange('holding', req.readAddress, req.readQuantity)
  ) {
    return addressError();
  }
  store.write('holding', req.writeAddress, req.values);
  counters.write('holding', store.unit, req.writeAddress, req.values.length);
  const r = store.read('holding', req.readAddress, req.readQuantity);
  return r.ok ? { ok: true, res: { type: 'read-write-registers', fc: 23, values: r.value } } : r;
}

function readFifo(store: RegisterStore, req: ReadFifoRequest): Outcome {
  const r = store.readFifo(req.address);
  if (!r.ok) return r;
  // More than 31 queued values is an illegal data value [MB-APP 6.18].
  if (r.value.length > MAX_FIFO) return { ok: false, exception: ExceptionCode.IllegalDataValue };
  return { ok: true, res: { type: 'read-fifo', fc: 24, values: r.value } };
}

function written(
  store: RegisterStore,
  counters: CounterSet,
  table: Table,
  address: number,
  values: readonly number[],
  res: ModbusResponse,
): Outcome {
  const w = store.write(table, address, values);
  if (!w.ok) return w;
  counters.write(table, store.unit, address, values.length);
  return { ok: true, res };
}

function addressError(): Outcome {
  return { ok: false, exception: ExceptionCode.IllegalDataAddress };
}
