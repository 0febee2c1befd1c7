export type AtErrorKind = 'error' | 'timeout' | 'closed' | 'queue_full';

/** A command that did not succeed. `final` is the modem's error line for kind 'error'. */
export class AtError extends Error {
  constructor(
    readonly kind: AtErrorKind,
    readonly command: string,
    message: string,
    readonly final?: string,
    readonly lines: string[] = [],
  ) {
    super(message);
    this.name = 'AtError';
  }
}

export const isAtError = (err: unknown, kind?: AtErrorKind): err is AtError => err instanceof AtError && (kind === undefined || err.kind === kind);
