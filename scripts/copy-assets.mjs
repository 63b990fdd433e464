// Copies non-TypeScript runtime assets (proto files, JSON schemas, sample YAML) next to the compiled JS,
// so `dist/` runs on its own after `npm run build`.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';

const ASSET_EXT = new Set(['.proto', '.yaml', '.yml', '.json']);
const ROOTS = ['protocols', 'gateway', 'simulators'];

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (ASSET_EXT.has(extname(name))) cpSync(path, join('dist', path));
  }
}
for (const root of ROOTS) if (existsSync(root)) walk(root);
