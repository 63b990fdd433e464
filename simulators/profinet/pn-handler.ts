/**
 * One decoded PNIO-CM request → the device's answer [IEC 61158-6-10 CM services]. No sockets: the UDP
 * server decodes and encodes around it.
 * - Read Implicit (opnum 5, nil ARUUID) needs no AR; Read (2) and Write (3) need a known AR, else
 *   `DE|DF 81 40 05` (unknown AR); each refreshes the AR's activity.
 * - Connect (0) opens a supervisor device-access AR (ar-table.ts); Release (1) closes it (`DC 81 40 05`
 *   when unknown).
 * - Error answers carry the PNIOStatus in the NDR header; a write answer also carries its IODWriteResHeader
 *   with the status, a failed read/connect/release no blocks.
 * - A read of a user index (0x0000–0x7FFF) with `exitOnUserIndexRead` set calls `crash()` and answers
 *   nothing: the real stack that crashed on such a read never answered either.
 */
import {
  isPnioOk,
  isUserIndex,
  PNIO_OK,
  PnioErrors,
  pnioStatusFromU32,
  pnioStatusHex,
  type CmRequest,
  type CmResponse,
  type PnioStatus,
} from '../../protocols/profinet/index.js';
import type { ArTable } from './ar-table.js';
import { LogDetail, type LogbookRing } from './logbook-ring.js';
import type { PnCounterSet } from './pn-counters.js';
import type { RecordStore } from './record-store.js';

export const READ_UNKNOWN_AR: PnioStatus = pnioStatusFromU32(0xde814005);

export interface HandlerDeps {
  readonly store: RecordStore;
  readonly ars: ArTable;
  readonly logbook: LogbookRing;
  readonly counters: PnCounterSet;
  /** Answered in ARBlockRes. */
  readonly mac: string;
  /** A status that replaces every record read/write answer (the `status` fault), or undefined. */
  readonly forcedStatus: () => PnioStatus | undefined;
  readonly exitOnUserIndexRead: () => boolean;
  readonly crash: (why: string) => void;
}

/** The answer, or null for none (the device crashed). */
export function handleCmRequest(d: HandlerDeps, req: CmRequest, peer: string): CmResponse | null {
  d.counters.request(req.op);
  const res = answer(d, req, peer);
  if (res && !isPnioOk(res.status)) d.counters.status(pnioStatusHex(res.status));
  return res;
}

function answer(d: HandlerDeps, req: CmRequest, peer: string): CmResponse | null {
  switch (req.op) {
    case 'read':
    case 'read-implicit':
      return read(d, req);
    case 'write':
      return write(d, req);
    case 'connect':
      return connect(d, req, peer);
    case 'release': {
      const ar = d.ars.release(req.control.arUuid, req.control.sessionKey);
      if (!ar) return { op: 'release', status: PnioErrors.releaseUnknownAr };
      d.counters.ar('released', d.ars.size);
      d.logbook.add(PNIO_OK, LogDetail.ArReleased, ar.arUuid);
      return { op: 'release', status: PNIO_OK, control: req.control };
    }
  }
}

function read(d: HandlerDeps, req: Extract<CmRequest, { op: 'read' | 'read-implicit' }>): CmResponse | null {
  const rec = req.record;
  d.counters.read(rec);
  if (isUserIndex(rec.index)) {
    d.counters.inc('userIndexReads');
    if (d.exitOnUserIndexRead()) {
      d.crash(
        `read of user index 0x${rec.index.toString(16).padStart(4, '0')} at ${rec.api}/${rec.slot}/${rec.subslot}`,
      );
      return null;
    }
  }
  if (req.op === 'read' && !d.ars.touch(rec.arUuid))
    return { op: req.op, status: READ_UNKNOWN_AR, data: Buffer.alloc(0) };
  const forced = d.forcedStatus();
  if (forced) return { op: req.op, status: forced, data: Buffer.alloc(0) };
  const out = d.store.read(rec, rec.recordDataLength);
  if (!isPnioOk(out.status)) return { op: req.op, status: out.status, data: Buffer.alloc(0) };
  return {
    op: req.op,
    status: PNIO_OK,
    record: { ...rec, recordDataLength: out.data.length, additionalValue1: 0, additionalValue2: 0 },
    data: out.data,
  };
}

function write(d: HandlerDeps, req: Extract<CmRequest, { op: 'write' }>): CmResponse {
  const rec = req.record;
  d.counters.write(rec);
  let status: PnioStatus;
  if (!d.ars.touch(rec.arUuid)) status = PnioErrors.writeUnknownAr;
  else status = d.forcedStatus() ?? d.store.write(rec, req.data);
  if (isPnioOk(status)) d.counters.applied(rec);
  return {
    op: 'write',
    status,
    record: { ...rec, recordDataLength: req.data.length, additionalValue1: 0, additionalValue2: 0, status },
  };
}

function connect(d: HandlerDeps, req: Extract<CmRequest, { op: 'connect' }>, peer: string): CmResponse {
  const out = d.ars.connect(req.ar, peer);
  if (!out.ok) {
    d.counters.ar('refused', d.ars.size);
    d.logbook.add(out.status, LogDetail.ArRefused, req.ar.arUuid);
    return { op: 'connect', status: out.status, otherBlocks: [] };
  }
  d.counters.ar('established', d.ars.size);
  d.logbook.add(PNIO_OK, LogDetail.ArEstablished, out.ar.arUuid);
  return {
    op: 'connect',
    status: PNIO_OK,
    // ResponderUDPRTPort 0x8892: the device answers RT over Ethernet, not UDP [IEC 61158-6-10 ARBlockRes].
    ar: {
      arType: req.ar.arType,
      arUuid: req.ar.arUuid,
      sessionKey: req.ar.sessionKey,
      responderMac: d.mac,
      responderUdpRtPort: 0x8892,
    },
    otherBlocks: [],
  };
}
