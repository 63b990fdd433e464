/**
 * CRC-16/MODBUS [MB-SERIAL 6.2.2]: polynomial 0xA001 (0x8005 reflected), initial value 0xFFFF, no final XOR.
 * On the wire the CRC follows the PDU low byte first [MB-SERIAL 2.5.1.2] (the only little-endian field of Modbus).
 */

/** One 256-entry table, computed once: a byte per step instead of a bit. */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-16/MODBUS of `buf[start, end)`. "123456789" → 0x4B37 (the catalogue check value). */
export function crc16Modbus(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (TABLE[(crc ^ (buf[i] as number)) & 0xff] as number);
  return crc;
}
