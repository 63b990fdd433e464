/** Types of child-main.mjs (the bench child protocol, child side). */
export interface ChildHandle {
  readonly info: Record<string, unknown>;
  readonly commands?: Record<string, () => Record<string, unknown> | Promise<Record<string, unknown>>>;
  stop(): Promise<void>;
}

export function serveChild(start: () => Promise<ChildHandle>): Promise<void>;
