/** Minimal structured logger for the identity module: a pino.Logger fits. Silent by default. */
export interface IdentityLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => undefined;

export const silentLogger: IdentityLogger = { debug: noop, info: noop, warn: noop, error: noop };
