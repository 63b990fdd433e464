/** Bit packing for coil/discrete values: LSB of the first byte is the first address [MB-APP 6.1, 6.11]. */

export function byteCountForBits(n: number): number {
  return Math.ceil(n / 8);
}

export function packBits(values: readonly boolean[]): Buffer {
  const out = Buffer.alloc(byteCountForBits(values.length));
  values.forEach((v, i) => {
    if (v) out[i >> 3] = (out[i >> 3] ?? 0) | (1 << (i & 7));
  });
  return out;
}

/** Reads `count` bits from `buf` starting at byte `offset`; caller guarantees the bytes are there. */
export function unpackBits(buf: Buffer, offset: number, count: number): boolean[] {
  const out: boolean[] = new Array<boolean>(count);
  for (let i = 0; i < count; i++) {
    out[i] = (((buf[offset + (i >> 3)] ?? 0) >> (i & 7)) & 1) === 1;
  }
  return out;
}

export function readRegisters(buf: Buffer, offset: number, count: number): number[] {
  const out: number[] = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = buf.readUInt16BE(offset + 2 * i);
  return out;
}

export function writeRegisters(buf: Buffer, offset: number, values: readonly number[]): void {
  values.forEach((v, i) => buf.writeUInt16BE(v & 0xffff, offset + 2 * i));
}
