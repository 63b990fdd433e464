/**
 * The records of a simulated PROFINET IO device and the answers a device stack gives for them
 * [IEC 61158-6-10 record indices and PNIOStatus]:
 * - slot 0 (DAP): subslot 1 (the device, with I&M0–I&M3 at 0xAFF0–0xAFF3), the interface subslot (0x8000)
 *   and the port subslots (0x8001…); modules in slots ≥ 1 with fixed-length parameter records (user indices);
 * - 0xF000 RealIdentificationData of an API, diagnosis 0x800A/0xC00A/0xF00A/0xF80C, logbook 0xF830.
 * Indices from 0xF000 up are API/device-wide: their slot/subslot is not looked at. Below 0xF000 the
 * slot/subslot must be plugged (else `.. 80 B2 00`), then the index must exist there (else `.. 80 B0 0A`).
 * A read whose RecordDataLength is below the record's size is refused (`DE 80 B7 00`, no truncation, as
 * common stacks do). Writes: fixed length (`DF 80 B1 00`), read-only records and I&M0 `DF 80 B6 00`.
 */
import {
  decodeIm1,
  decodeIm2,
  decodeIm3,
  encodeIm0,
  encodeIm1,
  encodeIm2,
  encodeIm3,
  encodeRealIdentification,
  PNIO_OK,
  PnioErrors,
  pnioStatusFromU32,
  RecordIndex,
  type IdentModule,
  type Im0,
  type PnioStatus,
  type RecordAddress,
} from '../../protocols/profinet/index.js';
import type { DiagnosisBook } from './diagnosis-book.js';
import type { LogbookRing } from './logbook-ring.js';
import type { PnScenario, RecordAccess } from './pn-scenario.js';

/** `DE 80 B7 00`: access — invalid range (RecordDataLength below the record's size). */
export const READ_LENGTH_TOO_SMALL: PnioStatus = pnioStatusFromU32(0xde80b700);

export interface ReadOutcome {
  readonly status: PnioStatus;
  readonly data: Buffer;
}

interface ParamRecord {
  readonly length: number;
  readonly access: RecordAccess;
  readonly initial: Buffer;
  value: Buffer;
}

const IM_INDICES = new Set<number>([RecordIndex.IM0, RecordIndex.IM1, RecordIndex.IM2, RecordIndex.IM3]);
const DIAGNOSIS = new Set<number>([
  RecordIndex.DiagnosisSubslot,
  RecordIndex.DiagnosisSlot,
  RecordIndex.DiagnosisApi,
  RecordIndex.DiagnosisDevice,
]);
const EMPTY = Buffer.alloc(0);
const subKey = (api: number, slot: number, subslot: number): string => `${api}:${slot}:${subslot}`;

export class RecordStore {
  /** `api:slot:subslot` → index → record. */
  readonly #params = new Map<string, Map<number, ParamRecord>>();
  /** `api:slot` of every plugged module (slot 0 = DAP). */
  readonly #slots = new Set<string>();
  readonly #modules: IdentModule[];
  #im: { 0xaff0: Buffer; 0xaff1: Buffer; 0xaff2: Buffer; 0xaff3: Buffer } = {
    0xaff0: EMPTY,
    0xaff1: EMPTY,
    0xaff2: EMPTY,
    0xaff3: EMPTY,
  };
  #revisionCounter = 0;

  constructor(
    private readonly scenario: PnScenario,
    private readonly diagnosis: DiagnosisBook,
    private readonly logbook: LogbookRing,
  ) {
    const dap = scenario.dap;
    this.#modules = [
      {
        api: 0,
        slot: 0,
        moduleIdentNumber: dap.moduleIdent,
        submodules: [{ subslot: 1, submoduleIdent: dap.submoduleIdent }, dap.interface, ...dap.ports].map((s) => ({
          subslot: s.subslot,
          submoduleIdentNumber: s.submoduleIdent,
        })),
      },
      ...scenario.modules.map((m) => ({
        api: m.api ?? 0,
        slot: m.slot,
        moduleIdentNumber: m.moduleIdent,
        submodules: m.subslots.map((s) => ({ subslot: s.subslot, submoduleIdentNumber: s.submoduleIdent })),
      })),
    ];
    for (const m of this.#modules) {
      this.#slots.add(`${m.api}:${m.slot}`);
      for (const s of m.submodules) this.#params.set(subKey(m.api, m.slot, s.subslot), new Map());
    }
    for (const m of scenario.modules) {
      for (const s of m.subslots) {
        const map = this.#params.get(subKey(m.api ?? 0, m.slot, s.subslot)) as Map<number, ParamRecord>;
        for (const r of s.records ?? []) {
          const initial = r.value ? Buffer.from(r.value, 'hex') : Buffer.alloc(r.length);
          map.set(r.index, {
            length: r.length,
            access: r.access ?? 'read-write',
            initial,
            value: Buffer.from(initial),
          });
        }
      }
    }
    this.reset();
  }

  /** Back to the scenario's values (a power cycle): parameters, I&M1–3, revision counter, diagnosis. */
  reset(): void {
    const d = this.scenario.device;
    for (const map of this.#params.values()) for (const r of map.values()) r.value = Buffer.from(r.initial);
    this.#revisionCounter = d.revisionCounter ?? 0;
    this.#im = {
      0xaff0: this.#im0(),
      0xaff1: encodeIm1(d.im1 ?? { tagFunction: '', tagLocation: '' }),
      0xaff2: encodeIm2(d.im2 ?? { date: '' }),
      0xaff3: encodeIm3(d.im3 ?? { descriptor: '' }),
    };
    this.diagnosis.reset();
  }

  get modules(): readonly IdentModule[] {
    return this.#modules;
  }

  read(a: RecordAddress, maxLength: number): ReadOutcome {
    const found = this.#lookup(a);
    if ('status' in found) return { status: found.status, data: EMPTY };
    if (found.data.length > maxLength) return { status: READ_LENGTH_TOO_SMALL, data: EMPTY };
    return { status: PNIO_OK, data: found.data };
  }

  write(a: RecordAddress, data: Buffer): PnioStatus {
    if (a.index >= 0xf000)
      return this.#systemIndex(a.index) ? PnioErrors.writeAccessDenied : PnioErrors.writeInvalidIndex;
    const where = this.#where(a, PnioErrors.writeInvalidSlot);
    if (where) return where;
    if (IM_INDICES.has(a.index)) return this.#writeIm(a, data);
    if (DIAGNOSIS.has(a.index)) return PnioErrors.writeAccessDenied;
    const rec = this.#params.get(subKey(a.api, a.slot, a.subslot))?.get(a.index);
    if (!rec) return PnioErrors.writeInvalidIndex;
    if (rec.access === 'read-only') return PnioErrors.writeAccessDenied;
    if (data.length !== rec.length) return PnioErrors.writeLength;
    rec.value = Buffer.from(data);
    this.#bumpRevision();
    return PNIO_OK;
  }

  /** The current bytes of a record as a read would return them, or undefined (control channel, tests). */
  peek(a: RecordAddress): Buffer | undefined {
    const found = this.#lookup(a);
    return 'data' in found ? Buffer.from(found.data) : undefined;
  }

  #lookup(a: RecordAddress): { data: Buffer } | { status: PnioStatus } {
    if (a.index >= 0xf000) {
      switch (a.index) {
        case RecordIndex.RealIdentificationData:
          return { data: encodeRealIdentification(this.#modules.filter((m) => m.api === a.api)) };
        case RecordIndex.DiagnosisApi:
        case RecordIndex.DiagnosisDevice:
          return { data: this.diagnosis.record(a.index, a.api, a.slot, a.subslot) };
        case RecordIndex.LogBookData:
          return { data: this.logbook.record() };
        default:
          return { status: PnioErrors.readInvalidIndex };
      }
    }
    const where = this.#where(a, PnioErrors.readInvalidSlot);
    if (where) return { status: where };
    if (IM_INDICES.has(a.index)) {
      // I&M lives in the DAP's device submodule; other submodules refer to it (I&M0FilterData).
      return a.slot === 0 && a.subslot === 1
        ? { data: this.#im[a.index as 0xaff0] }
        : { status: PnioErrors.readInvalidIndex };
    }
    if (DIAGNOSIS.has(a.index)) return { data: this.diagnosis.record(a.index, a.api, a.slot, a.subslot) };
    const rec = this.#params.get(subKey(a.api, a.slot, a.subslot))?.get(a.index);
    return rec ? { data: rec.value } : { status: PnioErrors.readInvalidIndex };
  }

  /** Empty slot or subslot → that status; 0xC00A only needs the slot. */
  #where(a: RecordAddress, invalid: PnioStatus): PnioStatus | undefined {
    if (!this.#slots.has(`${a.api}:${a.slot}`)) return invalid;
    if (a.index === RecordIndex.DiagnosisSlot) return undefined;
    return this.#params.has(subKey(a.api, a.slot, a.subslot)) ? undefined : invalid;
  }

  #systemIndex(index: number): boolean {
    return index === RecordIndex.RealIdentificationData || index === RecordIndex.LogBookData || DIAGNOSIS.has(index);
  }

  #writeIm(a: RecordAddress, data: Buffer): PnioStatus {
    if (a.slot !== 0 || a.subslot !== 1) return PnioErrors.writeInvalidIndex;
    if (a.index === RecordIndex.IM0) return PnioErrors.writeAccessDenied;
    const idx = a.index as 0xaff1 | 0xaff2 | 0xaff3;
    if (data.length !== this.#im[idx].length) return PnioErrors.writeLength;
    const decoded = idx === 0xaff1 ? decodeIm1(data) : idx === 0xaff2 ? decodeIm2(data) : decodeIm3(data);
    if (!decoded.ok) return pnioStatusFromU32(0xdf80b800); // access: invalid parameter (wrong block inside)
    this.#im[idx] = Buffer.from(data);
    this.#bumpRevision();
    return PNIO_OK;
  }

  /** IM_Revision_Counter counts parameter changes [PI I&M functions]. */
  #bumpRevision(): void {
    this.#revisionCounter = (this.#revisionCounter + 1) & 0xffff;
    this.#im[0xaff0] = this.#im0();
  }

  #im0(): Buffer {
    const d = this.scenario.device;
    const [major, minor, patch] = d.softwareRevision.slice(1).split('.').map(Number) as [number, number, number];
    const v: Im0 = {
      vendorId: d.vendorId,
      orderId: d.orderId,
      serialNumber: d.serialNumber,
      hardwareRevision: d.hardwareRevision,
      softwareRevisionPrefix: d.softwareRevision[0] ?? 'V',
      softwareRevision: [major, minor, patch],
      revisionCounter: this.#revisionCounter,
      profileId: d.profileId ?? 0,
      profileSpecificType: d.profileSpecificType ?? 0,
      imVersion: [1, 1],
      imSupported: 0x000e, // I&M1, I&M2, I&M3
    };
    return encodeIm0(v);
  }
}
