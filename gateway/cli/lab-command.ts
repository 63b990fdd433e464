/**
 * `verigate lab` (= `npm start`): starts the lab, prints how to connect, runs until Ctrl-C, then stops
 * everything it started (simulators, SPIRE, gateway) cleanly.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { errorMessage } from '../errors.js';
import { EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './cli-io.js';
import { tryParseDuration } from '../config/duration.js';
import { startLab, type LabJson } from './lab.js';

export const labCommand: CliCommand = async (args, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        dir: { type: 'string', default: '.lab' },
        identity: { type: 'string', default: 'auto' },
        'mbaps-port': { type: 'string', default: '8802' },
        'grpc-port': { type: 'string', default: '8443' },
        'metrics-port': { type: 'string', default: '9802' },
        'log-level': { type: 'string', default: 'warn' },
        learn: { type: 'string' },
      },
    }));
  } catch (err) {
    io.err(`verigate lab: ${errorMessage(err)}`);
    return EXIT_USAGE;
  }
  const identity = values.identity;
  if (identity !== 'spire' && identity !== 'dev' && identity !== 'auto') {
    io.err('verigate lab: --identity must be spire, dev or auto');
    return EXIT_USAGE;
  }
  const ports = {
    mbaps: Number(values['mbaps-port']),
    grpc: Number(values['grpc-port']),
    metrics: Number(values['metrics-port']),
  };
  const learnMs = values.learn === undefined ? undefined : tryParseDuration(values.learn);
  if (learnMs === null || (learnMs !== undefined && (learnMs <= 0 || learnMs > 30 * 86_400_000))) {
    io.err('verigate lab: --learn takes a duration of at most 30d, e.g. 1h');
    return EXIT_USAGE;
  }
  const logger = pino({ level: values['log-level'] ?? 'warn', name: 'verigate' }, pino.destination(2));
  const lab = await startLab({
    dir: values.dir ?? '.lab',
    identity,
    ports,
    logger,
    ...(learnMs !== undefined ? { learnMs } : {}),
  });
  printInstructions(io, lab.json, values.dir ?? '.lab');
  if (learnMs !== undefined) printCommissioning(io, lab.json, values.dir ?? '.lab');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  io.out('stopping the lab…');
  await lab.stop();
  return EXIT_OK;
};

function printInstructions(io: CliIo, lab: LabJson, dir: string): void {
  const m = lab.endpoints.mbaps;
  const h = lab.clients.historian;
  const hmi = lab.clients.hmi;
  const pn = lab.profinetDevices
    .map((d) => `${d.name} (station ${d.stationName}, PNIO-CM udp ${d.device.host}:${d.device.port})`)
    .join(', ');
  const g = lab.endpoints.grpc;
  io.out(`verigate lab is up (identity: ${lab.identitySource === 'spire' ? 'real SPIRE' : 'embedded dev issuer'}, trust domain ${lab.trustDomain})
  Modbus/TCP Security  ${m.host}:${m.port}   (unit 1 = turbine-1, unit 2 = tank-1${lab.serialLines.length > 0 ? '; RS-485: unit 11 = meter-1, 12 = meter-2, 10 = meters-all (broadcast)' : ''})
  gRPC API             ${g.host}:${g.port}   (gateway ID ${lab.gatewayId}: admin commands pin it)
  PROFINET IO          ${pn}   (records over gRPC, service verigate.v1.Profinet)
  metrics / health     http://${lab.endpoints.metrics.host}:${lab.endpoints.metrics.port}/metrics  /readyz
  audit trail          ${lab.auditDir}   (verify: npx verigate audit verify ${lab.auditDir})
  machine-readable     ${dir}/lab.json

Try it with a stock pymodbus TLS client (bash scripts/install-test-tools.sh puts pymodbus in .venv):
  .venv/bin/python - <<'PY'
import ssl
from pymodbus.client import ModbusTlsClient
ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile="${h?.bundle}")
ctx.check_hostname = False   # SPIFFE: the peer is checked by its SPIFFE ID, not a hostname
ctx.load_cert_chain("${h?.cert}", "${h?.key}")
c = ModbusTlsClient("${m.host}", port=${m.port}, sslctx=ctx); c.connect()
print(c.read_input_registers(0, count=3, device_id=1).registers)   # turbine speed, temperatures
print(c.write_register(100, 1500, device_id=1))                     # historian may not write: exception 0x01
PY
  The hmi client (${hmi?.cert}) may write the speed setpoint (holding 100..109, 0..3600) on unit 1.

PROFINET records of rio-1 (the historian reads I&M0, the module list and diagnosis; engineers write the DI
input delay, slot 1 subslot 1 index 0x0100, with a JIT grant approved by the shift lead):
  npx verigate profinet identity --lab ${dir} --as historian --device rio-1
  npx verigate profinet read --lab ${dir} --as historian --device rio-1 --slot 3 --subslot 1 --index 0x800A
  grpcurl -cacert ${h?.bundle} -cert ${h?.cert} -key ${h?.key} \\
    -import-path gateway/frontdoor/proto -proto verigate/v1/gateway.proto \\
    -d '{"device":"rio-1"}' localhost:${g.port} verigate.v1.Profinet/ReadIdentity
Ctrl-C stops everything.`);
}

/** `--learn`: the commissioning walk-through (README "Commissioning a plant") against this lab. */
function printCommissioning(io: CliIo, lab: LabJson, dir: string): void {
  io.out(`
COMMISSIONING MODE: turbine-1 and tank-1 learn for the historian, the hmi and the engineer (not the stranger)
until the end time in ${lab.gatewayConfig}; the base policy ${lab.policyFile} grants them nothing yet.
  1. make traffic: run the pymodbus snippet above as historian, hmi and engineer (reads, setpoint writes)
  2. propose:  npx verigate policy learn --audit ${lab.auditDir} --base ${lab.policyFile} --config ${lab.gatewayConfig} --out ${dir}/proposed.yaml
  3. replay:   npx verigate policy replay --audit ${lab.auditDir} --policy ${dir}/proposed.yaml
  4. review:   npx verigate policy diff ${lab.policyFile} ${dir}/proposed.yaml
  5. enforce:  cp ${dir}/proposed.yaml ${lab.policyFile} && npx verigate reload --lab ${dir} --as shift-lead
     (remove the learn: blocks from ${lab.gatewayConfig} before the next start; learning ends at its end time anyway)`);
}
