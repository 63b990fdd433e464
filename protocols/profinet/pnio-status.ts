/**
 * PNIOStatus: ErrorCode, ErrorDecode, ErrorCode1, ErrorCode2 [IEC 61158-6-10 PNIOStatus]. In the NDR header
 * of a response it is one u32 in DREP order (ErrorCode is the most significant byte), so a little-endian
 * answer carries the four bytes reversed; inside blocks (IODWriteResHeader) it is big-endian like the block.
 */

export interface PnioStatus {
  readonly errorCode: number;
  readonly errorDecode: number;
  readonly errorCode1: number;
  readonly errorCode2: number;
}

export const PNIO_OK: PnioStatus = Object.freeze({ errorCode: 0, errorDecode: 0, errorCode1: 0, errorCode2: 0 });

export function pnioStatusFromU32(v: number): PnioStatus {
  return {
    errorCode: (v >>> 24) & 0xff,
    errorDecode: (v >>> 16) & 0xff,
    errorCode1: (v >>> 8) & 0xff,
    errorCode2: v & 0xff,
  };
}

export function pnioStatusToU32(s: PnioStatus): number {
  return ((s.errorCode << 24) | (s.errorDecode << 16) | (s.errorCode1 << 8) | s.errorCode2) >>> 0;
}

/** Eight hex digits, ErrorCode first (`de80b00a`): the form for audit events and gRPC metadata. */
export function pnioStatusHex(s: PnioStatus): string {
  return pnioStatusToU32(s).toString(16).padStart(8, '0');
}

export function pnioStatusFromHex(h: string): PnioStatus {
  return pnioStatusFromU32(Number.parseInt(h, 16) >>> 0);
}

export const isPnioOk = (s: PnioStatus): boolean => pnioStatusToU32(s) === 0;

/** ErrorCode: which service answered [IEC 61158-6-10]. */
const ERROR_CODE: Record<number, string> = {
  0x81: 'PNIO',
  0xcf: 'RTA error',
  0xda: 'AlarmAck',
  0xdb: 'IODConnectRes',
  0xdc: 'IODReleaseRes',
  0xdd: 'IODControlRes',
  0xde: 'IODReadRes',
  0xdf: 'IODWriteRes',
};

/** ErrorDecode 0x80 PNIORW: ErrorCode1 is class (high nibble) + code (low nibble); ErrorCode2 is user specific. */
const PNIORW_CODE1: Record<number, [string, string]> = {
  0xa0: ['application-read-error', 'application: read error'],
  0xa1: ['application-write-error', 'application: write error'],
  0xa2: ['module-failure', 'application: module failure'],
  0xa7: ['busy', 'application: busy'],
  0xa8: ['version-conflict', 'application: version conflict'],
  0xa9: ['feature-not-supported', 'application: feature not supported'],
  0xb0: ['invalid-index', 'access: invalid index'],
  0xb1: ['write-length', 'access: write length error'],
  0xb2: ['invalid-slot-subslot', 'access: invalid slot/subslot'],
  0xb3: ['type-conflict', 'access: type conflict'],
  0xb4: ['invalid-area', 'access: invalid area'],
  0xb5: ['state-conflict', 'access: state conflict'],
  0xb6: ['access-denied', 'access: access denied'],
  0xb7: ['invalid-range', 'access: invalid range'],
  0xb8: ['invalid-parameter', 'access: invalid parameter'],
  0xb9: ['invalid-type', 'access: invalid type'],
  0xba: ['backup', 'access: backup'],
  0xc0: ['read-constraint-conflict', 'resource: read constrain conflict'],
  0xc1: ['write-constraint-conflict', 'resource: write constrain conflict'],
  0xc2: ['resource-busy', 'resource: resource busy'],
  0xc3: ['resource-unavailable', 'resource: resource unavailable'],
};

/** ErrorDecode 0x81 PNIO: ErrorCode1 names the block or protocol machine, ErrorCode2 the detail. */
const PNIO_CODE1: Record<number, string> = {
  0x01: 'Connect: faulty ARBlockReq',
  0x02: 'Connect: faulty IOCRBlockReq',
  0x03: 'Connect: faulty ExpectedSubmoduleBlockReq',
  0x04: 'Connect: faulty AlarmCRBlockReq',
  0x08: 'Read/Write record: faulty record',
  0x14: 'IODControl: faulty ControlBlockConnect',
  0x28: 'Release: faulty ReleaseBlock',
  0x3d: 'CMDEV',
  0x3e: 'CMCTL',
  0x40: 'CMRPC',
  0x45: 'RPC',
};

/** Known ErrorCode1/ErrorCode2 pairs under ErrorDecode 0x81 with a name operators and policy use. */
const PNIO_PAIRS: Record<number, [string, string]> = {
  0x0104: ['ar-type-not-supported', 'Connect: ARBlockReq parameter ARType not supported'],
  0x0109: ['ar-properties-not-supported', 'Connect: ARBlockReq parameter ARProperties not supported'],
  0x4000: ['args-length-invalid', 'CMRPC: ArgsLength invalid'],
  0x4001: ['unknown-blocks', 'CMRPC: unknown blocks'],
  0x4004: ['out-of-ar-resources', 'CMRPC: out of AR resources'],
  0x4005: ['unknown-ar', 'CMRPC: AR UUID unknown'],
  0x4006: ['ar-state-conflict', 'CMRPC: state conflict'],
};

export interface PnioMeaning {
  /** Stable kebab-case name: `ok`, `invalid-index`, `unknown-ar`, … or `pniorw-error`/`pnio-error`/`unknown`. */
  readonly name: string;
  /** Human text: service, then class/code as the spec names them. */
  readonly meaning: string;
}

/** Name and explain a PNIOStatus; unknown codes get a generic name and their hex. */
export function describePnioStatus(s: PnioStatus): PnioMeaning {
  if (isPnioOk(s)) return { name: 'ok', meaning: 'OK' };
  const service = ERROR_CODE[s.errorCode] ?? `ErrorCode 0x${s.errorCode.toString(16)}`;
  const code2 = `0x${s.errorCode2.toString(16).padStart(2, '0')}`;
  if (s.errorDecode === 0x80) {
    const known = PNIORW_CODE1[s.errorCode1];
    if (known) return { name: known[0], meaning: `${service}: ${known[1]} (ErrorCode2 ${code2})` };
    return {
      name: 'pniorw-error',
      meaning: `${service}: PNIORW ErrorCode1 0x${s.errorCode1.toString(16)} (ErrorCode2 ${code2})`,
    };
  }
  if (s.errorDecode === 0x81) {
    const pair = PNIO_PAIRS[(s.errorCode1 << 8) | s.errorCode2];
    if (pair) return { name: pair[0], meaning: `${service}: ${pair[1]}` };
    const block = PNIO_CODE1[s.errorCode1] ?? `ErrorCode1 0x${s.errorCode1.toString(16)}`;
    return { name: 'pnio-error', meaning: `${service}: ${block}, ErrorCode2 ${code2}` };
  }
  return {
    name: 'unknown',
    meaning: `${service}: ErrorDecode 0x${s.errorDecode.toString(16)} status ${pnioStatusHex(s)}`,
  };
}

/** Status a device answers for common record errors (the simulator uses these). */
export const PnioErrors = {
  readInvalidIndex: pnioStatusFromU32(0xde80b00a),
  readInvalidSlot: pnioStatusFromU32(0xde80b200),
  writeInvalidIndex: pnioStatusFromU32(0xdf80b00a),
  writeInvalidSlot: pnioStatusFromU32(0xdf80b200),
  writeLength: pnioStatusFromU32(0xdf80b100),
  writeAccessDenied: pnioStatusFromU32(0xdf80b600),
  writeApplication: pnioStatusFromU32(0xdf80a100),
  connectArTypeNotSupported: pnioStatusFromU32(0xdb810104),
  connectOutOfArResources: pnioStatusFromU32(0xdb814004),
  writeUnknownAr: pnioStatusFromU32(0xdf814005),
  releaseUnknownAr: pnioStatusFromU32(0xdc814005),
} as const;
