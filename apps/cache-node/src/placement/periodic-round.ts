/**
 * Runs an async round at a fixed interval, and once at start. A round still running when
 * the next is due makes that one a no-op, so rounds never overlap. A round's own errors
 * are its to handle: one that throws is only passed to `onError`.
 */
export class PeriodicRound {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly intervalMs: number,
    private readonly body: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.run(), this.intervalMs).unref();
    void this.run();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round now, unless one is running (then it resolves at once). */
  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.body();
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = false;
    }
  }
}
