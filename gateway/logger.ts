/**
 * The one logger shape of the gateway. Every module that logs takes a `Logger` (a pino `Logger` fits: pino's
 * `(obj, msg)` call form) and defaults to `nullLogger`; only the composition root builds the real pino
 * instance. Modules never import pino themselves, so tests can pass a recording logger.
 * Importable from every layer of gateway/ (docs/architecture.md "What may import what").
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const discard = (): void => undefined;

/** Logs nothing: the default of every module that takes a logger. */
export const nullLogger: Logger = Object.freeze({ debug: discard, info: discard, warn: discard, error: discard });
