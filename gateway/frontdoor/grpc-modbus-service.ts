/**
 * `verigate.v1.Modbus` handlers: reads of the four tables (FC 1–4), coil writes (FC5 one, FC15 several),
 * register writes (FC6 one, FC16 several) and Watch. Every call runs as the verified session of the TLS
 * connection it arrived on; see grpc-modbus-call.ts for the shared request path.
 */
import type * as grpc from '@grpc/grpc-js';
import { commitWrite } from './grpc-write-commit.js';
import type { ModbusRequest, ModbusResponse } from '../../protocols/modbus/index.js';
import { runCall } from './grpc-modbus-call.js';
import type {
  BitsResponse,
  ReadRequest,
  RegistersResponse,
  WatchRequest,
  WatchUpdate,
  WriteCoilsRequest,
  WriteRegistersRequest,
  WriteResponse,
} from './grpc-proto.js';
import { startWatch, type WatchDeps } from './grpc-watch.js';

export type ModbusServiceDeps = WatchDeps;

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

function readRequest(fc: 1 | 2 | 3 | 4, r: ReadRequest): ModbusRequest {
  return fc === 1 || fc === 2
    ? { type: 'read-bits', fc, address: r.address, quantity: r.count }
    : { type: 'read-registers', fc, address: r.address, quantity: r.count };
}

function coilsRequest(r: WriteCoilsRequest): ModbusRequest {
  const [only] = r.values;
  return r.values.length === 1 && only !== undefined
    ? { type: 'write-single-coil', fc: 5, address: r.address, value: only }
    : { type: 'write-multiple-coils', fc: 15, address: r.address, values: r.values };
}

function registersRequest(r: WriteRegistersRequest): ModbusRequest {
  const [only] = r.values;
  return r.values.length === 1 && only !== undefined
    ? { type: 'write-single-register', fc: 6, address: r.address, value: only }
    : { type: 'write-multiple-registers', fc: 16, address: r.address, values: r.values };
}

/**
 * The decoded answer's values as the message: the decoder built the array for this call alone, so it is handed
 * over as it is (no copy, no bits → 0/1 → bool round trip).
 */
function readMessage(r: ModbusResponse): BitsResponse | RegistersResponse {
  if (r.type === 'read-bits') return { values: r.values as boolean[] };
  if (r.type === 'read-registers') return { values: r.values as number[] };
  return { values: [] };
}

export function modbusService(deps: ModbusServiceDeps): grpc.UntypedServiceImplementation {
  const read =
    (fc: 1 | 2 | 3 | 4): Unary<ReadRequest, BitsResponse | RegistersResponse> =>
    (call, callback) => {
      const session = deps.sessionOf(call);
      if (!session.ok) return callback(session.error);
      void runCall(deps, session.session, call.request.device, readRequest(fc, call.request)).then((r) =>
        r.ok ? callback(null, readMessage(r.response)) : callback(r.error),
      );
    };
  const write =
    <Req extends { device: string }>(build: (r: Req) => ModbusRequest): Unary<Req, WriteResponse> =>
    (call, callback) => {
      const session = deps.sessionOf(call);
      if (!session.ok) return callback(session.error);
      commitWrite(call);
      const req = build(call.request);
      void runCall(deps, session.session, call.request.device, req).then((r) => {
        if (!r.ok) return callback(r.error);
        const res = r.response;
        const count = res.type === 'write-multiple' ? res.quantity : 1;
        callback(null, { address: 'address' in res ? res.address : 0, count });
      });
    };
  return {
    ReadCoils: read(1),
    ReadDiscreteInputs: read(2),
    ReadHoldingRegisters: read(3),
    ReadInputRegisters: read(4),
    WriteCoils: write(coilsRequest),
    WriteRegisters: write(registersRequest),
    Watch: (call: grpc.ServerWritableStream<WatchRequest, WatchUpdate>) => startWatch(deps, call),
  };
}
