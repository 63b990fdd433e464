/**
 * tshark (Debian; Wireshark's DCE/RPC and PN-IO dissectors) decodes the PROFINET SIMULATOR's real answers
 * field by field, next to the requests that caused them: the codec builds a Read Implicit of I&M0, a read
 * of an unknown index, a Connect of a device-access AR, a Write inside it and a Release, sends them over
 * UDP on loopback in both byte orders (big-endian to a default simulator, little-endian to one answering
 * in the request's byte order, `echo`), and the exact datagrams sent and received go into a pcap (UDP
 * client port ↔ 34964, a file only). The WireGuard heuristic is switched off: it claims any UDP payload
 * starting 04 00 00 00. A missing tshark fails the test (never a skip).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  answersCall,
  decodeRpcDatagram,
  encodeCmRequest,
  PNIO_CM_UDP_PORT,
  RecordIndex,
  type CmRequest,
} from '../../protocols/profinet/index.js';
import { startProfinetSimulator } from '../../simulators/profinet/profinet-simulator.js';
import { writePcap, type PcapDatagram } from '../helpers/pcap.js';
import { connectDeviceAccess, PnTestClient, readImplicit, release, writeInAr } from '../helpers/pn-client.js';
import { requireTool } from '../helpers/tools.js';

const FIELDS = [
  'frame.number',
  'dcerpc.ver',
  'dcerpc.pkt_type',
  'dcerpc.drep.byteorder',
  'dcerpc.dg_act_id',
  'dcerpc.dg_seqnum',
  'dcerpc.opnum',
  'dcerpc.dg_frag_num',
  'dcerpc.dg_if_id',
  'dcerpc.obj_id',
  'pn_io.args_len',
  'pn_io.error_code',
  'pn_io.error_decode',
  'pn_io.error_code1',
  'pn_io.error_code2',
  'pn_io.block_type',
  'pn_io.ar_uuid',
  'pn_io.api',
  'pn_io.slot_nr',
  'pn_io.subslot_nr',
  'pn_io.index',
  'pn_io.record_data_length',
  'pn_io.ar_type',
  'pn_io.session_key',
  'pn_io.ar_properties.device_access',
  'pn_io.cmresponder_macadd',
  'pn_io.control_command.release',
  'pn_io.control_command.done',
  'pn_io.vendor_id_high',
  'pn_io.vendor_id_low',
  'pn_io.order_id',
  'pn_io.im_serial_number',
  'pn_io.im_hardware_revision',
] as const;
type Field = (typeof FIELDS)[number];
type Row = Record<Field, string>;
const pick = (row: Row, fields: readonly Field[]): Partial<Row> => Object.fromEntries(fields.map((f) => [f, row[f]]));

function tshark(pcap: string): Promise<Row[]> {
  const bin = requireTool('tshark');
  const args = [
    '--disable-protocol',
    'wg',
    '-r',
    pcap,
    '-T',
    'fields',
    '-E',
    'separator=\t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=,',
  ];
  for (const f of FIELDS) args.push('-e', f);
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`tshark failed: ${err.message}\n${stderr}`));
      resolve(
        stdout
          .trim()
          .split('\n')
          .map((line) => Object.fromEntries(line.split('\t').map((v, i) => [FIELDS[i], v])) as Row),
      );
    });
  });
}

const ACTIVITY = '5a5a0001-2222-4333-8444-555566667777';
const NIL = '00000000-0000-0000-0000-000000000000';
const AR = '33333333-0000-0000-0000-00000000000a';
const IM0 = { api: 0, slot: 0, subslot: 1, index: RecordIndex.IM0 };
const P1 = { api: 0, slot: 1, subslot: 1, index: 0x0100 };
const REQUESTS: readonly CmRequest[] = [
  readImplicit(IM0),
  readImplicit({ ...P1, index: 0x4444 }),
  connectDeviceAccess(AR),
  writeInAr(AR, P1, Buffer.from('0032', 'hex')),
  release(AR),
];

/** Sends the codec's datagrams for one request and returns them with the simulator's raw answer datagram. */
async function exchange(
  c: PnTestClient,
  req: CmRequest,
  seq: number,
  littleEndian: boolean,
): Promise<{ sent: Buffer[]; answer: Buffer }> {
  const { header, datagrams } = encodeCmRequest(
    { activityUuid: ACTIVITY, sequenceNumber: seq, objectUuid: c.objectUuid, littleEndian },
    req,
  );
  for (const d of datagrams) c.sendRaw(d);
  for (;;) {
    const raw = await c.nextRaw(2000);
    if (!raw) throw new Error(`no answer from the simulator to ${req.op} (seq ${seq})`);
    const d = decodeRpcDatagram(raw);
    if (d.ok && answersCall(header, d.value.header).ok) return { sent: datagrams, answer: raw };
  }
}

t.test("tshark decodes our requests and the simulator's real answers field by field (both byte orders)", async (t) => {
  requireTool('tshark');
  const dir = mkdtempSync(join(tmpdir(), 'pnio-sim-tshark-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const packets: PcapDatagram[] = [];
  for (const le of [false, true]) {
    const sim = await startProfinetSimulator({
      scenario: 'simulators/scenarios/remote-io.yaml',
      host: '127.0.0.1',
      port: 0,
      sweepMs: 0,
      answerByteOrder: le ? 'echo' : 'big',
    });
    const c = await PnTestClient.open(sim.port, sim.objectUuid);
    try {
      for (const [i, req] of REQUESTS.entries()) {
        const { sent, answer } = await exchange(c, req, (le ? 100 : 0) + i, le);
        t.equal(sent.length, 1, `${req.op}: one request datagram`);
        for (const d of sent) packets.push({ payload: d, srcPort: c.localPort, dstPort: PNIO_CM_UDP_PORT });
        packets.push({ payload: answer, srcPort: PNIO_CM_UDP_PORT, dstPort: c.localPort, src: 2, dst: 1 });
      }
      t.same(sim.readRecord(P1), Buffer.from('0032', 'hex'), 'the write inside the AR was applied');
      t.same(sim.ars(), [], 'the AR was released');
    } finally {
      c.close();
      await sim.close();
    }
  }
  const pcap = join(dir, 'pnio-sim.pcap');
  writePcap(pcap, packets);
  const rows = await tshark(pcap);
  t.equal(rows.length, packets.length, 'one row per datagram');
  const objectUuid = 'dea00000-6c97-11d1-8271-000103010fee'; // pnioObjectUuid(0x0fee, 0x0301, 1) of rio-1
  for (const le of [false, true]) {
    const tag = le ? 'LE (echo)' : 'BE';
    const base = le ? 100 : 0;
    const frames = rows.slice(le ? 10 : 0, le ? 20 : 10);
    t.equal(frames.length, 10, `${tag}: five requests, five answers`);
    frames.forEach((row, i) => {
      const answer = i % 2 === 1;
      t.same(
        pick(row, [
          'dcerpc.ver',
          'dcerpc.pkt_type',
          'dcerpc.drep.byteorder',
          'dcerpc.dg_act_id',
          'dcerpc.dg_seqnum',
          'dcerpc.opnum',
          'dcerpc.dg_frag_num',
          'dcerpc.dg_if_id',
          'dcerpc.obj_id',
        ]),
        {
          'dcerpc.ver': '4',
          'dcerpc.pkt_type': answer ? '2' : '0',
          'dcerpc.drep.byteorder': le ? '1' : '0',
          'dcerpc.dg_act_id': ACTIVITY,
          'dcerpc.dg_seqnum': String(base + Math.floor(i / 2)),
          'dcerpc.opnum': ['5', '5', '0', '3', '1'][Math.floor(i / 2)],
          'dcerpc.dg_frag_num': '0',
          'dcerpc.dg_if_id': 'dea00001-6c97-11d1-8271-00a02442df7d',
          'dcerpc.obj_id': objectUuid,
        },
        `${tag} frame ${row['frame.number']}: RPC header (${answer ? "answer in the request's order, same activity/sequence/opnum" : 'request'})`,
      );
    });
    const [readQ, readA, errQ, errA, connQ, connA, writeQ, writeA, relQ, relA] = frames as [
      Row,
      Row,
      Row,
      Row,
      Row,
      Row,
      Row,
      Row,
      Row,
      Row,
    ];
    const STATUS = ['pn_io.error_code', 'pn_io.error_decode', 'pn_io.error_code1', 'pn_io.error_code2'] as const;
    const ok = {
      'pn_io.error_code': '0x00',
      'pn_io.error_decode': '0x00',
      'pn_io.error_code1': '0',
      'pn_io.error_code2': '0',
    };
    const ADDR = [
      'pn_io.block_type',
      'pn_io.ar_uuid',
      'pn_io.api',
      'pn_io.slot_nr',
      'pn_io.subslot_nr',
      'pn_io.index',
      'pn_io.record_data_length',
    ] as const;

    t.same(
      pick(readQ, ADDR),
      {
        'pn_io.block_type': '0x0009',
        'pn_io.ar_uuid': NIL,
        'pn_io.api': '0x00000000',
        'pn_io.slot_nr': '0x0000',
        'pn_io.subslot_nr': '0x0001',
        'pn_io.index': '0xaff0',
        'pn_io.record_data_length': '4096',
      },
      `${tag} Read Implicit request: IODReadReqHeader for I&M0`,
    );
    t.same(
      pick(readA, [...STATUS, 'pn_io.args_len', ...ADDR]),
      {
        ...ok,
        'pn_io.args_len': '124',
        'pn_io.block_type': '0x8009,0x0020',
        'pn_io.ar_uuid': NIL,
        'pn_io.api': '0x00000000',
        'pn_io.slot_nr': '0x0000',
        'pn_io.subslot_nr': '0x0001',
        'pn_io.index': '0xaff0',
        'pn_io.record_data_length': '60',
      },
      `${tag} Read Implicit answer: PNIOStatus 0, IODReadResHeader + I&M0 block`,
    );
    t.same(
      pick(readA, [
        'pn_io.vendor_id_high',
        'pn_io.vendor_id_low',
        'pn_io.order_id',
        'pn_io.im_serial_number',
        'pn_io.im_hardware_revision',
      ]),
      {
        'pn_io.vendor_id_high': '0x0f',
        'pn_io.vendor_id_low': '0xee',
        'pn_io.order_id': 'VG-RIO-ET16'.padEnd(20),
        'pn_io.im_serial_number': 'S-RIO1-000123'.padEnd(16),
        'pn_io.im_hardware_revision': '0x0003',
      },
      `${tag} I&M0 from the scenario: vendor 0x0FEE, order id, serial number (blank-padded), hardware revision`,
    );

    t.same(
      pick(errQ, ['pn_io.block_type', 'pn_io.slot_nr', 'pn_io.subslot_nr', 'pn_io.index']),
      {
        'pn_io.block_type': '0x0009',
        'pn_io.slot_nr': '0x0001',
        'pn_io.subslot_nr': '0x0001',
        'pn_io.index': '0x4444',
      },
      `${tag} read of an unknown index`,
    );
    t.same(
      pick(errA, [...STATUS, 'pn_io.args_len', 'pn_io.block_type']),
      {
        'pn_io.error_code': '0xde',
        'pn_io.error_decode': '0x80',
        'pn_io.error_code1': '176',
        'pn_io.error_code2': '10',
        'pn_io.args_len': '0',
        'pn_io.block_type': '',
      },
      `${tag} error answer: ErrorCode 0xDE (IODReadRes), ErrorDecode 0x80 (PNIORW), ErrorCode1 0xB0 (invalid index), no blocks`,
    );

    t.same(
      pick(connQ, ['pn_io.block_type', 'pn_io.ar_uuid', 'pn_io.session_key', 'pn_io.ar_properties.device_access']),
      {
        'pn_io.block_type': '0x0101',
        'pn_io.ar_uuid': `${AR},${AR}`,
        'pn_io.session_key': '1',
        'pn_io.ar_properties.device_access': '0x00000001',
      },
      `${tag} Connect: ARBlockReq with DeviceAccess`,
    );
    t.same(
      pick(connA, [
        ...STATUS,
        'pn_io.block_type',
        'pn_io.ar_type',
        'pn_io.ar_uuid',
        'pn_io.session_key',
        'pn_io.cmresponder_macadd',
      ]),
      {
        ...ok,
        'pn_io.block_type': '0x8101',
        'pn_io.ar_type': '0x0006',
        'pn_io.ar_uuid': `${AR},${AR}`,
        'pn_io.session_key': '1',
        'pn_io.cmresponder_macadd': '02:00:5e:10:00:01,02:00:5e:10:00:01',
      },
      `${tag} Connect answer: ARBlockRes, IOSAR, the scenario's MAC`,
    );

    t.same(
      pick(writeQ, ADDR),
      {
        'pn_io.block_type': '0x0008',
        'pn_io.ar_uuid': `${AR},${AR}`,
        'pn_io.api': '0x00000000',
        'pn_io.slot_nr': '0x0001',
        'pn_io.subslot_nr': '0x0001',
        'pn_io.index': '0x0100',
        'pn_io.record_data_length': '2',
      },
      `${tag} Write inside the AR`,
    );
    t.same(
      pick(writeA, [...STATUS, ...ADDR]),
      {
        'pn_io.error_code': '0x00,0x00',
        'pn_io.error_decode': '0x00,0x00',
        'pn_io.error_code1': '0,0',
        'pn_io.error_code2': '0,0',
        'pn_io.block_type': '0x8008',
        'pn_io.ar_uuid': `${AR},${AR}`,
        'pn_io.api': '0x00000000',
        'pn_io.slot_nr': '0x0001',
        'pn_io.subslot_nr': '0x0001',
        'pn_io.index': '0x0100',
        'pn_io.record_data_length': '2',
      },
      `${tag} Write answer: PNIOStatus 0 in the NDR header and in IODWriteResHeader`,
    );

    t.same(
      pick(relQ, ['pn_io.block_type', 'pn_io.ar_uuid', 'pn_io.session_key', 'pn_io.control_command.release']),
      {
        'pn_io.block_type': '0x0114',
        'pn_io.ar_uuid': `${AR},${AR}`,
        'pn_io.session_key': '1',
        'pn_io.control_command.release': '1',
      },
      `${tag} Release request`,
    );
    t.same(
      pick(relA, [
        ...STATUS,
        'pn_io.block_type',
        'pn_io.ar_uuid',
        'pn_io.control_command.done',
        'pn_io.control_command.release',
      ]),
      {
        ...ok,
        'pn_io.block_type': '0x8114',
        'pn_io.ar_uuid': `${AR},${AR}`,
        'pn_io.control_command.done': '1',
        'pn_io.control_command.release': '0',
      },
      `${tag} Release answer: Done`,
    );
  }
});
