/** Protocol limits from [MB-APP] and [MB-TCP]; one place so the codec, tests and fuzzers agree. */

/** MBAP header bytes [MB-TCP 3.1.3]. */
export const MBAP_HEADER_LENGTH = 7;
/** Largest PDU: 256-byte serial ADU minus address and CRC [MB-APP 4.1]. */
export const MAX_PDU_LENGTH = 253;
/** The MBAP length field counts the unit id and the PDU: 2..254. */
export const MIN_MBAP_LENGTH = 2;
export const MAX_MBAP_LENGTH = MAX_PDU_LENGTH + 1;
/** Data model addresses are 0..65535 [MB-APP 4.4]. */
export const ADDRESS_SPACE = 0x10000;

export const MAX_READ_BITS = 2000; // FC1/FC2 [MB-APP 6.1, 6.2]
export const MAX_READ_REGISTERS = 125; // FC3/FC4 [MB-APP 6.3, 6.4]
export const MAX_WRITE_COILS = 1968; // FC15 [MB-APP 6.11]
export const MAX_WRITE_REGISTERS = 123; // FC16 [MB-APP 6.12]
export const MAX_RW_READ_REGISTERS = 125; // FC23 [MB-APP 6.17]
export const MAX_RW_WRITE_REGISTERS = 121; // FC23 [MB-APP 6.17]
export const MAX_FIFO_COUNT = 31; // FC24 [MB-APP 6.18]
/** FC5 ON/OFF are the only legal values [MB-APP 6.5]. */
export const COIL_ON = 0xff00;
export const COIL_OFF = 0x0000;
/** File record reference type is always 6; record numbers 0..9999 [MB-APP 6.14]. */
export const FILE_REFERENCE_TYPE = 6;
export const MAX_FILE_RECORD_NUMBER = 0x270f;
/** MEI type 14: Read Device Identification [MB-APP 6.21]. */
export const MEI_READ_DEVICE_ID = 0x0e;
export const MEI_CANOPEN = 0x0d;
