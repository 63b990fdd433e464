/**
 * Serial-line timing of Modbus RTU [MB-SERIAL 2.5.1.1, 2.4.1], as pure arithmetic: a character is start bit +
 * data bits + parity bit (if any) + stop bits; frames are separated by at least 3.5 character times of silence,
 * fixed at 1.750 ms above 19,200 baud (the spec's value for fast lines, where UART interrupt load would
 * otherwise dominate).
 */

export type Parity = 'none' | 'even' | 'odd';

export interface LineFormat {
  readonly baudRate: number;
  readonly dataBits: 7 | 8;
  readonly parity: Parity;
  readonly stopBits: 1 | 2;
}

/** Above this rate the inter-frame silence is a fixed 1.75 ms [MB-SERIAL 2.5.1.1]. */
export const FIXED_TIMING_ABOVE_BAUD = 19_200;
export const FIXED_T35_MS = 1.75;

export function bitsPerChar(f: LineFormat): number {
  return 1 + f.dataBits + (f.parity === 'none' ? 0 : 1) + f.stopBits;
}

/** Time one character takes on the wire, in ms. */
export function charTimeMs(f: LineFormat): number {
  return (bitsPerChar(f) * 1000) / f.baudRate;
}

/** Minimum silence between two frames (t3.5), in ms. */
export function interFrameSilenceMs(f: LineFormat): number {
  return f.baudRate > FIXED_TIMING_ABOVE_BAUD ? FIXED_T35_MS : 3.5 * charTimeMs(f);
}

/** Time `bytes` characters take on the wire, in ms. */
export function transmitTimeMs(f: LineFormat, bytes: number): number {
  return bytes * charTimeMs(f);
}
