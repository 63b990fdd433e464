/** Public function codes [MB-APP 5.1] and the code ranges the spec reserves. */
export const FunctionCode = {
  ReadCoils: 1,
  ReadDiscreteInputs: 2,
  ReadHoldingRegisters: 3,
  ReadInputRegisters: 4,
  WriteSingleCoil: 5,
  WriteSingleRegister: 6,
  ReadExceptionStatus: 7,
  Diagnostics: 8,
  GetCommEventCounter: 11,
  GetCommEventLog: 12,
  WriteMultipleCoils: 15,
  WriteMultipleRegisters: 16,
  ReportServerId: 17,
  ReadFileRecord: 20,
  WriteFileRecord: 21,
  MaskWriteRegister: 22,
  ReadWriteMultipleRegisters: 23,
  ReadFifoQueue: 24,
  EncapsulatedInterface: 43,
} as const;
export type FunctionCode = (typeof FunctionCode)[keyof typeof FunctionCode];

/** Bit set on the FC of an exception response [MB-APP 7]. */
export const EXCEPTION_BIT = 0x80;

/** Serial-line-only diagnostics [MB-APP 6.7, 6.8, 6.9, 6.10, 6.13]. */
export function isSerialDiagnosticFc(fc: number): fc is 7 | 11 | 12 | 17 {
  return fc === 7 || fc === 11 || fc === 12 || fc === 17;
}

/** User-defined function codes 65–72 and 100–110 [MB-APP 5.1]. */
export function isUserDefinedFc(fc: number): boolean {
  return (fc >= 65 && fc <= 72) || (fc >= 100 && fc <= 110);
}

/** 0 is not a function code, 128–255 are exception responses [MB-APP 5.1]: never valid in a request. */
export function isValidRequestFc(fc: number): boolean {
  return Number.isInteger(fc) && fc >= 1 && fc <= 127;
}
