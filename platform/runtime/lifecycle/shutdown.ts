import type { Logger } from 'pino';

export type ShutdownStep = { name: string; run: () => Promise<void> };

/**
 * Runs the steps in order on SIGTERM/SIGINT (stop taking work first, close pools last).
 * A second signal, or a stuck step past `forceAfterMs`, exits at once with code 1.
 */
export function installShutdownHandlers(logger: Logger, steps: ShutdownStep[], forceAfterMs = 15_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown took too long: exiting');
      process.exit(1);
    }, forceAfterMs);
    timer.unref();
    void runShutdownSteps(logger, steps).then((ok) => process.exit(ok ? 0 : 1));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export async function runShutdownSteps(logger: Logger, steps: ShutdownStep[]): Promise<boolean> {
  let ok = true;
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      ok = false;
      logger.error({ err: error, step: step.name }, 'shutdown step failed');
    }
  }
  return ok;
}

/** Exits with code 1 and a clear message when start-up fails (bad config, unreachable dependency). */
export function exitOnStartupFailure(service: string, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${service}: failed to start: ${message}\n`);
  process.exit(1);
}

/**
 * Returns a stop function that runs the steps once, however many times it is called (a test's
 * after() and a signal may both ask).
 */
export function createStopOnce(logger: Logger, steps: ShutdownStep[]): () => Promise<void> {
  let stopped: Promise<boolean> | undefined;
  return async () => {
    stopped ??= runShutdownSteps(logger, steps);
    await stopped;
  };
}

/**
 * One close function for things opened one on top of another: runs the closers in the order given
 * (what uses a resource before the resource), each once the previous one has finished. Unlike the
 * shutdown steps it stops at the first failure and rejects with it.
 */
export function closeInOrder(...closers: Array<() => Promise<unknown>>): () => Promise<void> {
  return async () => {
    for (const close of closers) await close();
  };
}

/** Rejects with `message` when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
