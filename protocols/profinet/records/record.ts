/**
 * Record data by index → a typed value for operators, or opaque bytes. Only the records below are parsed;
 * everything else (vendor records 0x0000–0x7FFF, PDev records, …) stays bytes.
 */
import { RecordIndex } from '../constants.js';
import { ok, within, type Decoded } from '../result.js';
import { decodeDiagnosis, type DiagnosisEntry } from './diagnosis.js';
import { decodeRealIdentification, type RealIdentification } from './identification.js';
import { decodeIm0, decodeIm1, decodeIm2, decodeIm3, type Im0, type Im1, type Im2, type Im3 } from './im.js';
import { decodeLogBook, type LogBook } from './logbook.js';

export type RecordValue =
  | { readonly kind: 'im0'; readonly value: Im0 }
  | { readonly kind: 'im1'; readonly value: Im1 }
  | { readonly kind: 'im2'; readonly value: Im2 }
  | { readonly kind: 'im3'; readonly value: Im3 }
  | { readonly kind: 'real-identification'; readonly value: RealIdentification }
  | { readonly kind: 'diagnosis'; readonly value: DiagnosisEntry[] }
  | { readonly kind: 'logbook'; readonly value: LogBook }
  | { readonly kind: 'opaque'; readonly value: Buffer };

const DIAGNOSIS = new Set<number>([
  RecordIndex.DiagnosisSubslot,
  RecordIndex.DiagnosisSlot,
  RecordIndex.DiagnosisApi,
  RecordIndex.DiagnosisDevice,
]);

export function decodeRecord(index: number, data: Buffer): Decoded<RecordValue> {
  const tag = <K extends RecordValue['kind'], V>(kind: K, d: Decoded<V>): Decoded<RecordValue> =>
    d.ok ? ok({ kind, value: d.value } as RecordValue) : within(`record 0x${index.toString(16)}`, d);
  if (DIAGNOSIS.has(index)) return tag('diagnosis', decodeDiagnosis(data));
  switch (index) {
    case RecordIndex.IM0:
      return tag('im0', decodeIm0(data));
    case RecordIndex.IM1:
      return tag('im1', decodeIm1(data));
    case RecordIndex.IM2:
      return tag('im2', decodeIm2(data));
    case RecordIndex.IM3:
      return tag('im3', decodeIm3(data));
    case RecordIndex.RealIdentificationData:
      return tag('real-identification', decodeRealIdentification(data));
    case RecordIndex.LogBookData:
      return tag('logbook', decodeLogBook(data));
    default:
      return ok({ kind: 'opaque', value: data });
  }
}
