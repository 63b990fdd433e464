/**
 * MBAP ADUs gathered for one write: each answer (or request) is added as its transaction id, unit id and PDU,
 * and `take()` encodes them all into ONE buffer [MB-TCP 3.1.3: transaction id(2) protocol id(2)=0 length(2)
 * unit id(1) PDU]. A connection that writes what one event-loop turn released this way makes one buffer and
 * one stream write per turn instead of an ADU buffer and a buffered write per frame; each frame keeps its own
 * header, so the peer parses exactly what separate writes would have given it.
 */
import { MAX_PDU_LENGTH, MBAP_HEADER_LENGTH } from './limits.js';

export class AduBatch {
  // Parallel lists reused from batch to batch: `#n` counts the frames added (setting a length to 0 would free
  // the lists' storage and grow it again every turn).
  readonly #ids: number[] = [];
  readonly #units: number[] = [];
  readonly #pdus: (Buffer | null)[] = [];
  #n = 0;
  #bytes = 0;

  /** Bytes `take()` would return now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Our own output, so limits are programmer errors, as in encodeAdu: a PDU outside 1..253 throws RangeError. */
  add(transactionId: number, unitId: number, pdu: Buffer): void {
    if (pdu.length < 1 || pdu.length > MAX_PDU_LENGTH)
      throw new RangeError(`modbus: PDU length ${pdu.length} outside 1..253`);
    if (!Number.isInteger(transactionId) || transactionId < 0 || transactionId > 0xffff)
      throw new RangeError(`modbus: transaction id ${transactionId} outside 0..65535`);
    if (!Number.isInteger(unitId) || unitId < 0 || unitId > 0xff)
      throw new RangeError(`modbus: unit id ${unitId} outside 0..255`);
    const i = this.#n++;
    this.#ids[i] = transactionId;
    this.#units[i] = unitId;
    this.#pdus[i] = pdu;
    this.#bytes += MBAP_HEADER_LENGTH + pdu.length;
  }

  /** Every ADU added since the last take, in order, in one buffer; null when there is none. */
  take(): Buffer | null {
    const n = this.#n;
    if (n === 0) return null;
    const out = Buffer.allocUnsafe(this.#bytes);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const pdu = this.#pdus[i] as Buffer;
      this.#pdus[i] = null; // the batch keeps no PDU alive once written
      out.writeUInt16BE(this.#ids[i] as number, at);
      out.writeUInt16BE(0, at + 2);
      out.writeUInt16BE(pdu.length + 1, at + 4);
      out[at + 6] = this.#units[i] as number;
      pdu.copy(out, at + MBAP_HEADER_LENGTH);
      at += MBAP_HEADER_LENGTH + pdu.length;
    }
    this.#n = 0;
    this.#bytes = 0;
    return out;
  }
}
