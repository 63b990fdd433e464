/** The slice of pino the simulator uses; inject a pino.Logger or leave the silent default. */
export interface SimLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const silentLogger: SimLogger = { debug: noop, info: noop, warn: noop, error: noop };
