/**
 * The one retry pause of the code base: capped exponential backoff with full jitter — a delay drawn
 * uniformly from [0, min(capMs, baseMs · 2^(attempt − 1))]. The spread over the whole range is the
 * point: processes that failed together (relays, consumers, batches that deadlocked on each other)
 * do not retry in lockstep. `attempt` counts from 1.
 */
export function fullJitterBackoffMs(attempt: number, options: { baseMs: number; capMs: number }): number {
  // The exponent is bounded so that a long outage cannot overflow to Infinity · 0 = NaN.
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(Math.random() * ceiling);
}

/** A plain pause, for loops that wait and have no shutdown to honour (see createStoppableSleep). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface StoppableSleep {
  /** Resolves after `ms`, or at once when stop() is (or was) called. */
  sleep(ms: number): Promise<void>;
  /** Ends every pending sleep and every later one: a loop that is shutting down must not wait. */
  stop(): void;
}

/** Pauses that a shutdown can cut short, for retry loops that must stop promptly. */
export function createStoppableSleep(): StoppableSleep {
  const waiting = new Set<() => void>();
  let stopped = false;
  return {
    sleep: (ms) => {
      if (stopped) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          waiting.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        waiting.add(done);
      });
    },
    stop: () => {
      stopped = true;
      for (const done of [...waiting]) done();
    },
  };
}
