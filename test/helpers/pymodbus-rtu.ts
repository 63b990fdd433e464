/**
 * pymodbus (PyPI, in .venv) on a Modbus RTU line: its serial RTU client (on a PTY path, or RTU framing over TCP
 * to a device server) and its serial RTU server (a third-party device on a PTY). Third-party bytes on the wire.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { requireTool } from './tools.js';
import type { PyOp, PyResult } from './pymodbus.js';

export type { PyOp, PyResult };

const CLIENT = String.raw`
import json, sys
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
import serial.serialposix as sp
# pymodbus changes pyserial's timeouts after opening the port, which re-runs tcsetattr; on this kernel a PTY
# refuses that second call (EINVAL). pyserial keeps read/write timeouts itself (select), so after the open only
# VMIN/VTIME would change, which a PTY has no use for: skip the re-configuration.
_reconfigure = sp.Serial._reconfigure_port
sp.Serial._reconfigure_port = lambda self, force_update=False: _reconfigure(self, True) if force_update else None
target, ops = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if target["kind"] == "serial":
    c = ModbusSerialClient(target["path"], framer=FramerType.RTU, baudrate=target["baud"], parity=target["parity"], stopbits=1, bytesize=8, timeout=1, retries=0)
else:
    c = ModbusTcpClient(target["host"], port=target["port"], framer=FramerType.RTU, timeout=1, retries=0)
if not c.connect():
    print(json.dumps({"connectError": True})); sys.exit(3)
out = []
for o in ops:
    u = {"device_id": o.get("unit", 1)}
    try:
        if o["op"] == "read_holding": r = c.read_holding_registers(o["address"], count=o.get("count", 1), **u)
        elif o["op"] == "read_input": r = c.read_input_registers(o["address"], count=o.get("count", 1), **u)
        elif o["op"] == "read_coils": r = c.read_coils(o["address"], count=o.get("count", 1), **u)
        elif o["op"] == "write_register": r = c.write_register(o["address"], o["value"], **u)
        elif o["op"] == "write_registers": r = c.write_registers(o["address"], o["values"], **u)
        elif o["op"] == "write_coil": r = c.write_coil(o["address"], o["value"], **u)
        else: out.append({"error": "unknown op"}); continue
        if r.isError(): out.append({"exception": getattr(r, "exception_code", -1)})
        elif o["op"].startswith("read_"):
            vals = r.registers if o["op"] in ("read_holding", "read_input") else [int(b) for b in r.bits[: o.get("count", 1)]]
            out.append({"values": list(vals)})
        else: out.append({"ok": True})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
c.close()
print(json.dumps(out))
`;

export type RtuTarget =
  | { kind: 'serial'; path: string; baud?: number; parity?: 'N' | 'E' | 'O' }
  | { kind: 'tcp'; host: string; port: number };

export async function runPymodbusRtu(target: RtuTarget, ops: PyOp[], timeoutMs = 20_000): Promise<PyResult[]> {
  const python = requireTool('python');
  const t = target.kind === 'serial' ? { baud: 9600, parity: 'E', ...target } : target;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      python,
      ['-c', CLIENT, JSON.stringify(t), JSON.stringify(ops)],
      { timeout: timeoutMs, encoding: 'utf8' },
      (err, out, errOut) => {
        if (err) reject(new Error(`pymodbus RTU client failed: ${err.message}\n${errOut}\n${out}`));
        else resolve(out);
      },
    );
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as PyResult[];
}

const SERVER = String.raw`
import asyncio, json, sys
from pymodbus import FramerType
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusSerialServer
import serial.serialposix as sp
_reconfigure = sp.Serial._reconfigure_port  # see CLIENT: no tcsetattr after the open on a PTY
sp.Serial._reconfigure_port = lambda self, force_update=False: _reconfigure(self, True) if force_update else None
path, units = sys.argv[1], json.loads(sys.argv[2])
# pymodbus 3.16 blocks start at data model address 1, which is PDU address 0
def block(values): return ModbusSequentialDataBlock(1, values + [0] * (100 - len(values)))
devices = {int(u): ModbusDeviceContext(hr=block(d.get("holding", [])), ir=block(d.get("input", [])), co=block([0] * 100), di=block([0] * 100)) for u, d in units.items()}
async def main():
    server = ModbusSerialServer(ModbusServerContext(devices=devices, single=False), framer=FramerType.RTU, port=path, baudrate=9600, parity="E", stopbits=1, bytesize=8, broadcast_enable=True)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
`;

export interface PymodbusRtuServer {
  close(): Promise<void>;
}

/** pymodbus's serial RTU server on `path` (9600 8E1), one datastore per unit (holding/input from address 0). */
export async function startPymodbusRtuServer(
  path: string,
  units: Record<number, { holding?: number[]; input?: number[] }>,
): Promise<PymodbusRtuServer> {
  const python = requireTool('python');
  const child: ChildProcess = spawn(python, ['-c', SERVER, path, JSON.stringify(units)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pymodbus RTU server did not start: ${err}`)), 15_000);
    child.stdout?.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus RTU server exited ${String(code)}: ${err}`));
    });
  });
  return {
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    },
  };
}
