/**
 * Why a publish to the edge `AUDIT` stream failed, as the block publisher (audit-block-publisher.ts) must act on
 * it: a transient failure is retried quietly; a state that retrying alone cannot end — a full stream, events to
 * publish that the local files no longer hold (or cannot be read), an event over the leaf's max_payload on its
 * own — holds the audit log failing with this text, so the failure policy applies instead of a silent stall.
 */
/** What classifying needs of the stream port (AuditStreamPort in audit-stream-port.ts). */
interface FailureKinds {
  isStreamFull(err: unknown): boolean;
  isTooLarge?(err: unknown): boolean;
}

export type PublishFailure = 'full' | 'too-large' | 'publish' | 'files';

export function classifyPublishFailure(port: FailureKinds, err: unknown, what: 'publish' | 'files'): PublishFailure {
  if (what === 'files') return 'files';
  if (port.isStreamFull(err)) return 'full';
  if (port.isTooLarge?.(err) === true) return 'too-large';
  return 'publish';
}

/** The hold's text for a state retrying cannot end, null for a transient failure. */
export function holdText(
  reason: PublishFailure,
  error: string,
  at: { readonly nextSeq: number; readonly backlog: number; readonly maxPayload: number | null },
): string | null {
  const backlog = `${at.backlog} events not yet published`;
  switch (reason) {
    case 'full':
      return `fleet audit: the edge stream is full (${error}); ${backlog}`;
    case 'too-large':
      return `fleet audit: audit event ${at.nextSeq} is larger than the leaf's max_payload (${at.maxPayload ?? '?'} bytes) on its own (${error}); ${backlog}`;
    case 'files':
      return `fleet audit: cannot read the events to publish from the local audit files (${error}); ${backlog}`;
    case 'publish':
      return null;
  }
}
