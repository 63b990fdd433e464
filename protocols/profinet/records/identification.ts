/**
 * RealIdentificationData (index 0xF000 for one API, block 0x0013) [IEC 61158-6-10]: the modules and
 * submodules actually plugged. Version 1.0: NumberOfSlots, then per slot SlotNumber, ModuleIdentNumber,
 * NumberOfSubslots, per subslot SubslotNumber, SubmoduleIdentNumber (API 0 implied). Version 1.1 wraps
 * that in NumberOfAPIs and API per group.
 */
import { Reader, Writer } from '../bytes.js';
import { BlockType } from '../constants.js';
import { encodeBlock, expectBlock, readOneBlock } from '../block.js';
import { fail, ok, type Decoded } from '../result.js';

export interface IdentSubmodule {
  readonly subslot: number;
  readonly submoduleIdentNumber: number;
}
export interface IdentModule {
  readonly api: number;
  readonly slot: number;
  readonly moduleIdentNumber: number;
  readonly submodules: readonly IdentSubmodule[];
}
export interface RealIdentification {
  readonly versionLow: number;
  readonly modules: readonly IdentModule[];
}

export function decodeRealIdentification(data: Buffer): Decoded<RealIdentification> {
  const one = readOneBlock(data);
  if (!one.ok) return one;
  const b = one.value;
  const e = expectBlock(b, BlockType.RealIdentificationData, undefined, [0, 1]);
  if (!e.ok) return e;
  const r = new Reader(b.content);
  const modules: IdentModule[] = [];
  const apis = b.header.versionLow === 1 ? r.u16() : 1;
  for (let a = 0; a < apis && !r.overrun; a++) {
    const api = b.header.versionLow === 1 ? r.u32() : 0;
    const slots = r.u16();
    for (let s = 0; s < slots && !r.overrun; s++) {
      const slot = r.u16();
      const moduleIdentNumber = r.u32();
      const n = r.u16();
      // Every count is bounded by the bytes present: 6 bytes per submodule.
      if (n * 6 > r.remaining) return fail('truncated', `slot ${slot} claims ${n} subslots, ${r.remaining} bytes left`);
      const submodules = Array.from({ length: n }, () => ({ subslot: r.u16(), submoduleIdentNumber: r.u32() }));
      modules.push({ api, slot, moduleIdentNumber, submodules });
    }
  }
  if (r.overrun) return fail('truncated', 'RealIdentificationData counts go beyond the block');
  if (r.remaining !== 0) return fail('trailing-bytes', `${r.remaining} bytes after the last submodule`);
  return ok({ versionLow: b.header.versionLow, modules });
}

/** Version 1.1 (with APIs) unless every module is in API 0 and `versionLow` 0 is asked for. */
export function encodeRealIdentification(modules: readonly IdentModule[], versionLow: 0 | 1 = 1): Buffer {
  const w = new Writer();
  const apis = versionLow === 1 ? [...new Set(modules.map((m) => m.api))] : [0];
  if (versionLow === 1) w.u16(apis.length);
  for (const api of apis) {
    const inApi = versionLow === 1 ? modules.filter((m) => m.api === api) : modules;
    if (versionLow === 1) w.u32(api);
    w.u16(inApi.length);
    for (const m of inApi) {
      w.u16(m.slot).u32(m.moduleIdentNumber).u16(m.submodules.length);
      for (const s of m.submodules) w.u16(s.subslot).u32(s.submoduleIdentNumber);
    }
  }
  return encodeBlock(BlockType.RealIdentificationData, w.toBuffer(), versionLow);
}
