/**
 * A tiny PNIO-CM client for tests, built on the codec only (the gateway's own UDP client lives in
 * gateway/upstream/): sends one request's datagrams to the simulator on loopback and collects the answer
 * datagrams, reassembled and decoded, with a timeout. Also raw send/receive for hostile-input tests.
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  answersCall,
  decodeCmResponse,
  decodeRpcDatagram,
  DEVICE_ACCESS_AR_PROPERTIES,
  encodeCmRequest,
  FragmentAssembler,
  NIL_UUID,
  ARType,
  randomActivityUuid,
  type CmRequest,
  type CmResponse,
  type RecordAddress,
  type RpcHeader,
  type Uuid,
} from '../../protocols/profinet/index.js';

export interface PnExchange {
  readonly header: RpcHeader;
  readonly response: CmResponse | undefined;
  /** Answer datagrams received (fragments count one each). */
  readonly datagrams: Buffer[];
  readonly fragments: number;
  readonly answerLittleEndian: boolean | undefined;
}

export class PnTestClient {
  readonly socket: Socket;
  readonly activity: Uuid = randomActivityUuid();
  #seq = 0;
  #inbox: Buffer[] = [];
  #waiters: (() => void)[] = [];

  private constructor(
    socket: Socket,
    readonly port: number,
    readonly objectUuid: Uuid,
  ) {
    this.socket = socket;
    socket.on('message', (m) => {
      this.#inbox.push(m);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static async open(port: number, objectUuid: Uuid): Promise<PnTestClient> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new PnTestClient(s, port, objectUuid);
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  sendRaw(buf: Buffer): void {
    this.socket.send(buf, this.port, '127.0.0.1');
  }

  /** Next raw datagram, or undefined after `ms`. */
  async nextRaw(ms = 500): Promise<Buffer | undefined> {
    const end = Date.now() + ms;
    while (this.#inbox.length === 0) {
      const left = end - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.#inbox.shift();
  }

  drain(): void {
    this.#inbox = [];
  }

  async call(
    req: CmRequest,
    o: { littleEndian?: boolean; timeoutMs?: number; seq?: number; maxFragmentBody?: number } = {},
  ): Promise<PnExchange> {
    const seq = o.seq ?? this.#seq++;
    const { header, datagrams } = encodeCmRequest(
      {
        activityUuid: this.activity,
        sequenceNumber: seq,
        objectUuid: this.objectUuid,
        littleEndian: o.littleEndian ?? false,
      },
      req,
      o.maxFragmentBody,
    );
    for (const d of datagrams) this.sendRaw(d);
    const asm = new FragmentAssembler();
    const got: Buffer[] = [];
    const end = Date.now() + (o.timeoutMs ?? 1000);
    for (;;) {
      const raw = await this.nextRaw(Math.max(1, end - Date.now()));
      if (!raw)
        return { header, response: undefined, datagrams: got, fragments: got.length, answerLittleEndian: undefined };
      const d = decodeRpcDatagram(raw);
      if (!d.ok || !answersCall(header, d.value.header).ok) continue;
      got.push(raw);
      const whole = asm.push(d.value.header, d.value.body);
      if (whole.kind !== 'complete') continue;
      const res = decodeCmResponse(whole.header, whole.body);
      if (!res.ok) throw new Error(`undecodable answer: ${res.reason} ${res.detail}`);
      return {
        header,
        response: res.value,
        datagrams: got,
        fragments: whole.fragments,
        answerLittleEndian: whole.header.littleEndian,
      };
    }
  }

  close(): void {
    this.socket.close();
  }
}

export function readImplicit(a: RecordAddress, length = 4096, argsMaximum = 65535): CmRequest {
  return {
    op: 'read-implicit',
    argsMaximum,
    record: { ...a, sequenceNumber: 1, arUuid: NIL_UUID, recordDataLength: length, targetArUuid: NIL_UUID },
  };
}

export function readInAr(arUuid: Uuid, a: RecordAddress, length = 4096): CmRequest {
  return {
    op: 'read',
    argsMaximum: 65535,
    record: { ...a, sequenceNumber: 2, arUuid, recordDataLength: length, targetArUuid: NIL_UUID },
  };
}

export function writeInAr(arUuid: Uuid, a: RecordAddress, data: Buffer): CmRequest {
  return {
    op: 'write',
    argsMaximum: 65535,
    record: { ...a, sequenceNumber: 3, arUuid, recordDataLength: data.length },
    data,
  };
}

export function connectDeviceAccess(
  arUuid: Uuid,
  o: { arType?: number; sessionKey?: number; timeoutFactor?: number; properties?: number } = {},
): CmRequest {
  return {
    op: 'connect',
    argsMaximum: 65535,
    ar: {
      arType: o.arType ?? ARType.IOSAR,
      arUuid,
      sessionKey: o.sessionKey ?? 1,
      initiatorMac: '02:00:00:00:00:99',
      initiatorObjectUuid: 'dea00000-6c97-11d1-8271-000100010001',
      arProperties: o.properties ?? DEVICE_ACCESS_AR_PROPERTIES,
      activityTimeoutFactor: o.timeoutFactor ?? 100,
      initiatorUdpRtPort: 0x8892,
      stationName: 'verigate',
    },
    otherBlocks: [],
  };
}

export function release(arUuid: Uuid, sessionKey = 1): CmRequest {
  return {
    op: 'release',
    argsMaximum: 65535,
    control: {
      blockType: 0x0114,
      arUuid,
      sessionKey,
      alarmSequenceNumber: 0,
      controlCommand: 0x0004,
      controlBlockProperties: 0,
    },
  };
}
