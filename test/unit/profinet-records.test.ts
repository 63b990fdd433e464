/** Record parsers for operators [IEC 61158-6-10]: I&M0–3, RealIdentificationData, diagnosis, logbook. */
import t from 'tap';
import {
  decodeDiagnosis,
  decodeIm0,
  decodeIm1,
  decodeIm2,
  decodeIm3,
  decodeLogBook,
  decodeRealIdentification,
  decodeRecord,
  encodeDiagnosis,
  encodeIm0,
  encodeIm1,
  encodeIm2,
  encodeIm3,
  encodeLogBook,
  encodeRealIdentification,
  PnioErrors,
  Usi,
  type Decoded,
  type DiagnosisEntry,
  type Im0,
} from '../../protocols/profinet/index.js';
import { hex } from '../fixtures/modbus/annotated-hex.js';
import { AR_UUID } from '../fixtures/profinet/calls.js';

const reason = <T>(d: Decoded<T>): string => (d.ok ? 'ok' : d.reason);

const IM0_RECORD = hex(`
  00 20 00 38 01 00                    # block I&M0 (0x0020), BlockLength 56, version 1.0
  00 2a                                # VendorID 0x002A
  "6ES7 155-6AU01-0CN0 "               # OrderID, 20 chars, space padded
  "S C-X4U12345    "                   # IM_Serial_Number, 16 chars
  00 03                                # IM_Hardware_Revision 3
  56 04 02 01                          # IM_Software_Revision V4.2.1
  00 05                                # IM_Revision_Counter 5
  f6 00                                # IM_Profile_ID 0xF600 (generic device)
  00 03                                # IM_Profile_Specific_Type 3 (I/O module)
  01 01                                # IM_Version 1.1
  00 1e                                # IM_Supported: I&M1, I&M2, I&M3, I&M4`);

const IM0: Im0 = {
  vendorId: 0x2a,
  orderId: '6ES7 155-6AU01-0CN0',
  serialNumber: 'S C-X4U12345',
  hardwareRevision: 3,
  softwareRevisionPrefix: 'V',
  softwareRevision: [4, 2, 1],
  revisionCounter: 5,
  profileId: 0xf600,
  profileSpecificType: 3,
  imVersion: [1, 1],
  imSupported: 0x1e,
};

t.test('I&M0 decodes field by field and re-encodes to the same bytes', async (t) => {
  t.same(decodeIm0(IM0_RECORD), { ok: true, value: IM0 });
  t.equal(encodeIm0(IM0).toString('hex'), IM0_RECORD.toString('hex'));
  t.same(decodeRecord(0xaff0, IM0_RECORD), { ok: true, value: { kind: 'im0', value: IM0 } });
  t.equal(reason(decodeIm0(IM0_RECORD.subarray(0, 59))), 'truncated', 'cut short');
  t.equal(reason(decodeIm0(Buffer.concat([IM0_RECORD, Buffer.alloc(1)]))), 'trailing-bytes');
  const other = Buffer.from(IM0_RECORD);
  other.writeUInt16BE(0x0021, 0);
  t.equal(reason(decodeIm0(other)), 'block-type');
  const longer = Buffer.concat([IM0_RECORD, Buffer.alloc(2)]);
  longer.writeUInt16BE(58, 2);
  t.equal(reason(decodeIm0(longer)), 'block-length');
  const r = decodeRecord(0xaff0, Buffer.alloc(3));
  t.match(r, { ok: false, reason: 'truncated', detail: /^record 0xaff0: / });
});

t.test('I&M1–3', async (t) => {
  const im1 = { tagFunction: 'Pump station 3', tagLocation: 'Hall B / rack 2' };
  const b1 = encodeIm1(im1);
  t.equal(b1.length, 60);
  t.equal(b1.readUInt16BE(2), 56);
  t.same(decodeIm1(b1), { ok: true, value: im1 });
  t.same(decodeIm2(encodeIm2({ date: '2024-05-01 08:30' })), { ok: true, value: { date: '2024-05-01 08:30' } });
  t.same(decodeIm3(encodeIm3({ descriptor: 'remote I/O, line 4' })), {
    ok: true,
    value: { descriptor: 'remote I/O, line 4' },
  });
  t.match(decodeRecord(0xaff1, b1), { ok: true, value: { kind: 'im1' } });
  t.match(decodeRecord(0xaff2, encodeIm2({ date: 'x' })), { ok: true, value: { kind: 'im2' } });
  t.match(decodeRecord(0xaff3, encodeIm3({ descriptor: 'x' })), { ok: true, value: { kind: 'im3' } });
  t.equal(encodeIm1({ tagFunction: 'x'.repeat(40), tagLocation: '' }).length, 60, 'long text is cut to its field');
});

const REAL_ID_V10 = hex(`
  00 13 00 1a 01 00                    # RealIdentificationData, BlockLength 26, version 1.0 (API 0)
  00 02                                # NumberOfSlots 2
  00 00 00 00 01 01 00 01              # slot 0, ModuleIdentNumber 0x101 (DAP), 1 subslot
  00 01 00 00 00 01                    # subslot 1, SubmoduleIdentNumber 1
  00 01 00 00 00 20 00 00              # slot 1, ModuleIdentNumber 0x20, 0 subslots`);

t.test('RealIdentificationData 1.0 and 1.1', async (t) => {
  const v10 = decodeRealIdentification(REAL_ID_V10);
  t.same(v10, {
    ok: true,
    value: {
      versionLow: 0,
      modules: [
        { api: 0, slot: 0, moduleIdentNumber: 0x101, submodules: [{ subslot: 1, submoduleIdentNumber: 1 }] },
        { api: 0, slot: 1, moduleIdentNumber: 0x20, submodules: [] },
      ],
    },
  });
  if (!v10.ok) return;
  t.equal(encodeRealIdentification(v10.value.modules, 0).toString('hex'), REAL_ID_V10.toString('hex'));
  const modules = [
    {
      api: 0,
      slot: 0,
      moduleIdentNumber: 1,
      submodules: [
        { subslot: 1, submoduleIdentNumber: 1 },
        { subslot: 0x8000, submoduleIdentNumber: 2 },
      ],
    },
    { api: 0x3a00, slot: 2, moduleIdentNumber: 7, submodules: [{ subslot: 1, submoduleIdentNumber: 9 }] },
  ];
  t.same(decodeRealIdentification(encodeRealIdentification(modules)), { ok: true, value: { versionLow: 1, modules } });
  t.match(decodeRecord(0xf000, REAL_ID_V10), { ok: true, value: { kind: 'real-identification' } });
  const liar = Buffer.from(REAL_ID_V10);
  liar.writeUInt16BE(0x2000, 14);
  t.equal(reason(decodeRealIdentification(liar)), 'truncated', 'a subslot count beyond the block');
  const moreSlots = Buffer.from(REAL_ID_V10);
  moreSlots.writeUInt16BE(3, 6);
  t.equal(reason(decodeRealIdentification(moreSlots)), 'truncated', 'a slot count beyond the block');
  const fewer = Buffer.from(REAL_ID_V10);
  fewer.writeUInt16BE(1, 6);
  t.equal(reason(decodeRealIdentification(fewer)), 'trailing-bytes', 'bytes after the counted slots');
});

const DIAG_V11 = hex(`
  00 10 00 1c 01 01                    # DiagnosisData, BlockLength 28, version 1.1 (with API)
  00 00 00 00                          # API 0
  00 01 00 01                          # slot 1, subslot 1
  80 00                                # ChannelNumber 0x8000 (whole submodule)
  08 00                                # ChannelProperties: appears
  80 02                                # USI 0x8002 extended channel diagnosis
  00 03 08 00 00 01                    # channel 3, appears, ChannelErrorType 1 short circuit
  80 00 00 00 00 2a                    # ExtChannelErrorType 0x8000, ExtChannelAddValue 42`);

t.test('diagnosis records', async (t) => {
  const entry: DiagnosisEntry = {
    api: 0,
    slot: 1,
    subslot: 1,
    channelNumber: 0x8000,
    channelProperties: 0x0800,
    usi: Usi.ExtChannelDiagnosis,
    channels: [
      {
        channelNumber: 3,
        channelProperties: 0x0800,
        channelErrorType: 1,
        extChannelErrorType: 0x8000,
        extChannelAddValue: 42,
      },
    ],
  };
  t.same(decodeDiagnosis(DIAG_V11), { ok: true, value: [entry] });
  t.equal(encodeDiagnosis([entry]).toString('hex'), DIAG_V11.toString('hex'));
  t.same(decodeDiagnosis(Buffer.alloc(0)), { ok: true, value: [] }, 'no diagnosis: empty record');
  for (const index of [0x800a, 0xc00a, 0xf00a, 0xf80c])
    t.match(decodeRecord(index, DIAG_V11), { ok: true, value: { kind: 'diagnosis' } });
  const plain: DiagnosisEntry = {
    ...entry,
    api: 0,
    usi: Usi.ChannelDiagnosis,
    channels: [{ channelNumber: 0, channelProperties: 0x0800, channelErrorType: 2 }],
  };
  const qualified: DiagnosisEntry = {
    ...entry,
    usi: Usi.QualifiedChannelDiagnosis,
    channels: [{ ...entry.channels[0]!, qualifiedChannelQualifier: 0x10 }],
  };
  const vendor: DiagnosisEntry = { ...entry, usi: 0x1234, channels: [], manufacturerData: 'cafe' };
  t.same(decodeDiagnosis(encodeDiagnosis([plain, qualified, vendor])), { ok: true, value: [plain, qualified, vendor] });
  t.same(decodeDiagnosis(encodeDiagnosis([plain], 0)), { ok: true, value: [plain] }, 'version 1.0 (no API)');
  const ragged = Buffer.from(DIAG_V11.subarray(0, DIAG_V11.length - 1));
  ragged.writeUInt16BE(ragged.readUInt16BE(2) - 1, 2);
  t.equal(reason(decodeDiagnosis(ragged)), 'block-length', 'item bytes not a multiple of the item size');
  const tiny = Buffer.from('0010000401010000', 'hex');
  t.equal(reason(decodeDiagnosis(tiny)), 'truncated', 'header fields beyond the block');
  t.equal(reason(decodeDiagnosis(IM0_RECORD)), 'block-type');
});

t.test('logbook record', async (t) => {
  const book = {
    actualLocalTimeStamp: '0000018f2a3b4c5d',
    entries: [
      { localTimeStamp: '0000018f2a3b0000', arUuid: AR_UUID, status: PnioErrors.writeAccessDenied, entryDetail: 7 },
      {
        localTimeStamp: '0000018f2a3b1000',
        arUuid: '00000000-0000-0000-0000-000000000000',
        status: PnioErrors.connectOutOfArResources,
        entryDetail: 0,
      },
    ],
  };
  const bytes = encodeLogBook(book);
  t.equal(bytes.length, 6 + 10 + 64);
  t.equal(bytes.subarray(0, 6).toString('hex'), '0019004c0100', 'LogBookData, BlockLength 76, version 1.0');
  t.same(decodeLogBook(bytes), { ok: true, value: book });
  t.match(decodeRecord(0xf830, bytes), { ok: true, value: { kind: 'logbook' } });
  const liar = Buffer.from(bytes);
  liar.writeUInt16BE(3, 14);
  t.equal(reason(decodeLogBook(liar)), 'block-length', 'entry count beyond the block');
  t.equal(reason(decodeLogBook(Buffer.from('001900040100', 'hex').subarray(0, 6))), 'truncated');
});

t.test('everything else is opaque bytes', async (t) => {
  const data = Buffer.from('0102', 'hex');
  t.same(decodeRecord(0x0010, data), { ok: true, value: { kind: 'opaque', value: data } });
  t.same(decodeRecord(0x8028, data), { ok: true, value: { kind: 'opaque', value: data } });
});
