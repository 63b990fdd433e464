/**
 * Renders the committed lab configs (spire-config/server.conf, agent.conf) into a lab directory.
 * The templates are real SPIRE configs that use `${VAR}` references, which `spire-server run -expandEnv`
 * would expand from the environment; here the same variables are expanded once, so the lab directory
 * holds concrete files a human can read and rerun.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';

export interface LabConfigVars {
  readonly SPIRE_LAB_DIR: string;
  readonly SPIRE_TRUST_DOMAIN: string;
  readonly SPIRE_SERVER_PORT: string;
}

/** Expands `${NAME}` like Go's os.ExpandEnv, but an unknown name is an error rather than "". */
export function renderSpireConfig(template: string, vars: LabConfigVars, file = 'config'): string {
  const table: Record<string, string> = { ...vars };
  return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const value = table[name];
    if (value === undefined) {
      throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: ${file} references unknown variable \${${name}}`);
    }
    // The values land inside HCL double-quoted strings: refuse what would break out of them.
    if (/["\\\n]/.test(value)) {
      throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: value of ${name} contains a quote, backslash or newline`);
    }
    return value;
  });
}

/** Writes <dir>/server.conf and <dir>/agent.conf from the templates in `configDir`; returns their paths. */
export async function writeLabConfigs(
  configDir: string,
  dir: string,
  vars: LabConfigVars,
): Promise<{ serverConf: string; agentConf: string }> {
  const out = { serverConf: join(dir, 'server.conf'), agentConf: join(dir, 'agent.conf') };
  for (const [name, target] of [
    ['server.conf', out.serverConf],
    ['agent.conf', out.agentConf],
  ] as const) {
    const template = await readFile(join(configDir, name), 'utf8');
    await writeFile(target, renderSpireConfig(template, vars, name), { mode: 0o600 });
  }
  return out;
}
