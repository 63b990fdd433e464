/**
 * Minimal pcap writer (classic libpcap format, LINKTYPE_RAW = IPv4) for handing datagrams to tshark: each
 * UDP payload is wrapped in an IPv4 + UDP header between two loopback addresses. Only a file is written;
 * nothing is sent on any network.
 */
import { writeFileSync } from 'node:fs';

export interface PcapDatagram {
  readonly payload: Buffer;
  readonly srcPort: number;
  readonly dstPort: number;
  /** Last byte of 127.0.0.x for source and destination. */
  readonly src?: number;
  readonly dst?: number;
}

function ipChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipUdp(d: PcapDatagram, id: number): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + d.payload.length, 2);
  ip.writeUInt16BE(id & 0xffff, 4);
  ip[8] = 64;
  ip[9] = 17; // UDP
  Buffer.from([127, 0, 0, d.src ?? 1]).copy(ip, 12);
  Buffer.from([127, 0, 0, d.dst ?? 2]).copy(ip, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(d.srcPort, 0);
  udp.writeUInt16BE(d.dstPort, 2);
  udp.writeUInt16BE(8 + d.payload.length, 4); // checksum 0: none (allowed on IPv4)
  return Buffer.concat([ip, udp, d.payload]);
}

export function pcapBytes(datagrams: readonly PcapDatagram[]): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65535, 16);
  global.writeUInt32LE(101, 20); // LINKTYPE_RAW
  const records = datagrams.map((d, i) => {
    const pkt = ipUdp(d, i + 1);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(pkt.length, 8);
    rec.writeUInt32LE(pkt.length, 12);
    return Buffer.concat([rec, pkt]);
  });
  return Buffer.concat([global, ...records]);
}

export function writePcap(path: string, datagrams: readonly PcapDatagram[]): void {
  writeFileSync(path, pcapBytes(datagrams));
}
