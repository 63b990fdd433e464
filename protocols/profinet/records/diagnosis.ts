/**
 * Diagnosis records (0x800A subslot, 0xC00A slot, 0xF00A API, 0xF80C device) [IEC 61158-6-10 DiagnosisData]:
 * zero or more DiagnosisData blocks (0x0010). Version 1.0: SlotNumber, SubslotNumber, ChannelNumber,
 * ChannelProperties, UserStructureIdentifier, then items; version 1.1 puts API first. USI 0x8000 channel
 * diagnosis: items of ChannelNumber, ChannelProperties, ChannelErrorType (6 bytes); 0x8002 extended: +
 * ExtChannelErrorType, ExtChannelAddValue (12); 0x8003 qualified: + QualifiedChannelQualifier (16). Other
 * USIs (< 0x8000 manufacturer specific) are kept as bytes.
 */
import { Reader, Writer } from '../bytes.js';
import { BlockType } from '../constants.js';
import { encodeBlock, expectBlock, readBlocks } from '../block.js';
import { fail, ok, type Decoded } from '../result.js';

export const Usi = {
  ChannelDiagnosis: 0x8000,
  ExtChannelDiagnosis: 0x8002,
  QualifiedChannelDiagnosis: 0x8003,
} as const;
const ITEM_SIZE: Record<number, number> = {
  [Usi.ChannelDiagnosis]: 6,
  [Usi.ExtChannelDiagnosis]: 12,
  [Usi.QualifiedChannelDiagnosis]: 16,
};

export interface ChannelDiagnosis {
  readonly channelNumber: number;
  readonly channelProperties: number;
  readonly channelErrorType: number;
  readonly extChannelErrorType?: number;
  readonly extChannelAddValue?: number;
  readonly qualifiedChannelQualifier?: number;
}

export interface DiagnosisEntry {
  readonly api: number;
  readonly slot: number;
  readonly subslot: number;
  readonly channelNumber: number;
  readonly channelProperties: number;
  readonly usi: number;
  /** Decoded items for USI 0x8000/0x8002/0x8003; empty otherwise. */
  readonly channels: readonly ChannelDiagnosis[];
  /** Manufacturer-specific data (USI < 0x8000 or unknown): hex. */
  readonly manufacturerData?: string;
}

export function decodeDiagnosis(data: Buffer): Decoded<DiagnosisEntry[]> {
  const blocks = readBlocks(data, 256);
  if (!blocks.ok) return blocks;
  const out: DiagnosisEntry[] = [];
  for (const b of blocks.value) {
    const e = expectBlock(b, BlockType.DiagnosisData, undefined, [0, 1]);
    if (!e.ok) return e;
    const r = new Reader(b.content);
    const api = b.header.versionLow === 1 ? r.u32() : 0;
    const slot = r.u16();
    const subslot = r.u16();
    const channelNumber = r.u16();
    const channelProperties = r.u16();
    const usi = r.u16();
    if (r.overrun) return fail('truncated', `DiagnosisData block of ${b.content.length} bytes`);
    const size = ITEM_SIZE[usi];
    if (size === undefined) {
      out.push({
        api,
        slot,
        subslot,
        channelNumber,
        channelProperties,
        usi,
        channels: [],
        manufacturerData: r.bytes(r.remaining).toString('hex'),
      });
      continue;
    }
    if (r.remaining % size !== 0)
      return fail('block-length', `USI 0x${usi.toString(16)} items of ${size} bytes, ${r.remaining} bytes left`);
    const channels: ChannelDiagnosis[] = [];
    while (r.remaining > 0) channels.push(readChannel(r, usi));
    out.push({ api, slot, subslot, channelNumber, channelProperties, usi, channels });
  }
  return ok(out);
}

function readChannel(r: Reader, usi: number): ChannelDiagnosis {
  const base = { channelNumber: r.u16(), channelProperties: r.u16(), channelErrorType: r.u16() };
  if (usi === Usi.ChannelDiagnosis) return base;
  const ext = { ...base, extChannelErrorType: r.u16(), extChannelAddValue: r.u32() };
  return usi === Usi.ExtChannelDiagnosis ? ext : { ...ext, qualifiedChannelQualifier: r.u32() };
}

/** One DiagnosisData block per entry, version 1.1 (with API) by default. */
export function encodeDiagnosis(entries: readonly DiagnosisEntry[], versionLow: 0 | 1 = 1): Buffer {
  return Buffer.concat(
    entries.map((d) => {
      const w = new Writer();
      if (versionLow === 1) w.u32(d.api);
      w.u16(d.slot).u16(d.subslot).u16(d.channelNumber).u16(d.channelProperties).u16(d.usi);
      if (ITEM_SIZE[d.usi] === undefined) w.bytes(Buffer.from(d.manufacturerData ?? '', 'hex'));
      for (const c of ITEM_SIZE[d.usi] === undefined ? [] : d.channels) {
        w.u16(c.channelNumber).u16(c.channelProperties).u16(c.channelErrorType);
        if (d.usi !== Usi.ChannelDiagnosis) w.u16(c.extChannelErrorType ?? 0).u32(c.extChannelAddValue ?? 0);
        if (d.usi === Usi.QualifiedChannelDiagnosis) w.u32(c.qualifiedChannelQualifier ?? 0);
      }
      return encodeBlock(BlockType.DiagnosisData, w.toBuffer(), versionLow);
    }),
  );
}
