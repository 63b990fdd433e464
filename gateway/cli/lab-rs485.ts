/**
 * The lab's RS-485 line: a socat PTY pair standing in for the twisted pair, the gateway's serial port on one end
 * and two simulated energy meters (simulators/scenarios/meters.yaml, units 11 and 12) on the other, at
 * 9600 baud 8E1 (the Modbus serial default [MB-SERIAL 2.5.1]). Without socat the lab runs without the line and
 * says how to get it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { startSimulator, type Simulator } from '../../simulators/simulator.js';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

export interface Rs485Line {
  /** The gateway's end of the line. */
  readonly gatewayPath: string;
  /** The meters' end. */
  readonly devicePath: string;
  readonly meters: Simulator;
  stop(): Promise<void>;
}

const LINK_WAIT_MS = 5000;

function onPath(bin: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, bin)));
}

/** Starts the line, or returns the reason it cannot (socat missing, no PTY). */
export async function startRs485Line(dir: string, scenariosDir: string): Promise<Rs485Line | { missing: string }> {
  if (!onPath('socat'))
    return {
      missing: 'socat is not installed (Debian: apt-get install socat, or bash scripts/install-system-packages.sh)',
    };
  const lineDir = join(dir, 'rs485');
  rmSync(lineDir, { recursive: true, force: true });
  mkdirSync(lineDir, { recursive: true });
  const gatewayPath = join(lineDir, 'gateway');
  const devicePath = join(lineDir, 'meters');
  const socat: ChildProcess = spawn(
    'socat',
    [`pty,raw,echo=0,link=${gatewayPath}`, `pty,raw,echo=0,link=${devicePath}`],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => socat.once('exit', () => resolve()));
  // Stopping never waits forever and never leaves a child that keeps the process alive: SIGTERM, then after
  // 2 s SIGKILL, and the handle is released either way.
  const kill = async (): Promise<void> => {
    if (socat.exitCode === null) socat.kill('SIGTERM');
    await Promise.race([exited, delay(2000)]);
    if (socat.exitCode === null && socat.signalCode === null) socat.kill('SIGKILL');
    socat.unref();
  };
  const deadline = Date.now() + LINK_WAIT_MS;
  while (!(existsSync(gatewayPath) && existsSync(devicePath))) {
    if (Date.now() > deadline || socat.exitCode !== null) {
      await kill();
      return { missing: `socat did not create the PTY pair in ${lineDir}` };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    const meters = await startSimulator({
      scenario: join(scenariosDir, 'meters.yaml'),
      rtu: { serialPath: devicePath },
    });
    return {
      gatewayPath,
      devicePath,
      meters,
      async stop() {
        // a serial port whose other end is going away can take long to close: bounded, then the PTYs go anyway
        await Promise.race([meters.close().catch(() => undefined), delay(3000)]);
        await kill();
      },
    };
  } catch (err) {
    await kill();
    throw err;
  }
}
