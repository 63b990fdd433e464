/**
 * The device's diagnosis entries, fed by the scenario and by the control channel, served as the diagnosis
 * records of IEC 61158-6-10: 0x800A (one subslot), 0xC00A (one slot), 0xF00A (one API), 0xF80C (the whole
 * device) — each zero or more DiagnosisData blocks (0x0010, version 1.1 with API). A device without
 * diagnosis answers such a read with an empty record, not an error.
 */
import { encodeDiagnosis, RecordIndex, Usi, type DiagnosisEntry } from '../../protocols/profinet/index.js';
import type { DiagnosisSpec } from './pn-scenario.js';

/** Entries kept at most (the oldest leaves first), so the control channel cannot grow memory without bound. */
export const MAX_DIAGNOSIS_ENTRIES = 256;

/** ChannelProperties [IEC 61158-6-10]: Specifier bits 11–12 (1 = appears), Maintenance bits 9–10, Direction bits 13–15. */
const MAINTENANCE = { fault: 0, 'maintenance-required': 1, 'maintenance-demanded': 2 } as const;
const DIRECTION = { manufacturer: 0, input: 1, output: 2, 'input-output': 3 } as const;

export function diagnosisEntry(d: DiagnosisSpec): DiagnosisEntry {
  const channelNumber = d.channel ?? 0x8000;
  const channelProperties =
    (1 << 11) | (MAINTENANCE[d.severity ?? 'fault'] << 9) | (DIRECTION[d.direction ?? 'manufacturer'] << 13);
  const extended = d.extErrorType !== undefined || d.addValue !== undefined;
  const channel = extended
    ? {
        channelNumber,
        channelProperties,
        channelErrorType: d.errorType,
        extChannelErrorType: d.extErrorType ?? 0,
        extChannelAddValue: d.addValue ?? 0,
      }
    : { channelNumber, channelProperties, channelErrorType: d.errorType };
  return {
    api: d.api ?? 0,
    slot: d.slot,
    subslot: d.subslot,
    channelNumber,
    channelProperties,
    usi: extended ? Usi.ExtChannelDiagnosis : Usi.ChannelDiagnosis,
    channels: [channel],
  };
}

export class DiagnosisBook {
  #entries: DiagnosisEntry[] = [];

  constructor(private readonly initial: readonly DiagnosisSpec[] = []) {
    this.reset();
  }

  reset(): void {
    this.#entries = this.initial.map(diagnosisEntry);
  }

  add(d: DiagnosisSpec): DiagnosisEntry {
    const e = diagnosisEntry(d);
    this.#entries.push(e);
    if (this.#entries.length > MAX_DIAGNOSIS_ENTRIES) this.#entries.shift();
    return e;
  }

  /** Remove every entry, or those of one submodule. Returns how many left. */
  clear(where?: { slot: number; subslot: number }): number {
    const before = this.#entries.length;
    this.#entries = where ? this.#entries.filter((e) => e.slot !== where.slot || e.subslot !== where.subslot) : [];
    return before - this.#entries.length;
  }

  list(): readonly DiagnosisEntry[] {
    return this.#entries;
  }

  /** Record data of one of the four diagnosis indices for the addressed API/slot/subslot. */
  record(index: number, api: number, slot: number, subslot: number): Buffer {
    const pick = this.#entries.filter((e) => {
      switch (index) {
        case RecordIndex.DiagnosisSubslot:
          return e.api === api && e.slot === slot && e.subslot === subslot;
        case RecordIndex.DiagnosisSlot:
          return e.api === api && e.slot === slot;
        case RecordIndex.DiagnosisApi:
          return e.api === api;
        default:
          return true; // 0xF80C: the whole device
      }
    });
    return encodeDiagnosis(pick);
  }
}
