/** A bad flag or argument: the CLI prints it and exits 2. */
export class UsageError extends Error {
  readonly isRetryable = false;

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
