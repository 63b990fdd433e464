/**
 * Where a profiled frame is, as `file:line` relative to the repository: a frame in dist/ is mapped through its
 * emitted source map back to the TypeScript source (gateway/…/x.ts:line); other frames (node:…, node_modules)
 * are shown as they are. Used by both profile modes (cpuprofile-top.ts, heapprofile-top.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapping } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLocate, type CallFrame } from './cpuprofile-top.js';
import { ROOT } from './dist-build.js';

export function sourceMapLocate(): (f: CallFrame) => string {
  const maps = new Map<string, SourceMap | null>();
  const mapFor = (file: string): SourceMap | null => {
    if (!maps.has(file)) {
      const m = `${file}.map`;
      maps.set(
        file,
        existsSync(m)
          ? new SourceMap(JSON.parse(readFileSync(m, 'utf8')) as ConstructorParameters<typeof SourceMap>[0])
          : null,
      );
    }
    return maps.get(file)!;
  };
  return (f) => {
    if (!f.url.startsWith('file://')) return defaultLocate(f);
    const file = fileURLToPath(f.url);
    // findEntry() answers {} when no mapping covers the position.
    const e: Partial<SourceMapping> | undefined = mapFor(file)?.findEntry(f.lineNumber, f.columnNumber);
    if (e?.originalSource !== undefined && e.originalLine !== undefined) {
      const src = e.originalSource.startsWith('file://')
        ? fileURLToPath(e.originalSource)
        : resolve(dirname(file), e.originalSource);
      return `${relative(ROOT, src)}:${e.originalLine + 1}`;
    }
    return `${relative(ROOT, file)}:${f.lineNumber + 1}`;
  };
}
