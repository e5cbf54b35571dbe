import { declareMetrics, sleep, type Knex, type Logger, type MetricsRegistry } from '@wallet/platform';
import { findExpiredHoldSenders } from '../data-access/expired-holds-repository';
import type { MoneyEngine } from './transfers/money-engine';

export interface HoldSweeperOptions {
  knex: Knex;
  money: Pick<MoneyEngine, 'submit'>;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Pause between rounds that found less than a full round of work; 0 turns the sweeper off. */
  intervalMs: number;
  /** Expired holds taken per round (bounded work). */
  roundLimit: number;
}

/** Full rounds run back to back at most this many times before the sweeper pauses once. */
const MAX_ROUNDS_WITHOUT_PAUSE = 100;

/**
 * Releases expired holds so that available balances recover soon after expiry (ADR 12). Not needed
 * for correctness: every batch releases its users' expired holds before deciding anything, and
 * reads subtract them. A round finds the senders of expired holds and sends one `release-expired`
 * per sender through the money engine, so the releases are ordinary batch items: sequenced,
 * evented and decided under the sender's lock like everything else. Safe in several processes: a
 * hold already released is simply not found again.
 */
export function startHoldSweeper(options: HoldSweeperOptions): { stop(): Promise<void> } {
  const metric = declareMetrics(options.metrics);
  const rounds = metric.counter<'result'>('wallet_hold_sweeper_rounds_total', 'Rounds of the expired-hold sweeper, by result', ['result']);
  let stopping = false;
  const loop = async (): Promise<void> => {
    let fullRounds = 0;
    while (!stopping) {
      const full = await sweepOnce(options).then(
        (found) => {
          rounds.inc({ result: 'ok' });
          return found >= options.roundLimit;
        },
        (error: unknown) => {
          rounds.inc({ result: 'failed' });
          options.logger.warn({ err: error }, 'expired-hold sweep failed; the next round tries again');
          return false;
        },
      );
      fullRounds = full ? fullRounds + 1 : 0;
      if (!full || fullRounds >= MAX_ROUNDS_WITHOUT_PAUSE) {
        fullRounds = 0;
        await sleep(options.intervalMs);
      }
    }
  };
  const running = options.intervalMs > 0 ? loop() : Promise.resolve();
  return {
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}

/** One round: the senders of up to roundLimit expired holds, each released by a money batch item. Returns the holds found. */
async function sweepOnce(options: HoldSweeperOptions): Promise<number> {
  const { senders, holds } = await findExpiredHoldSenders(options.knex, options.roundLimit);
  const released = await Promise.allSettled(
    senders.map((userId) => options.money.submit({ command: { op: 'release-expired', userId }, key: undefined, fingerprint: '' })),
  );
  const failed = released.filter((r) => r.status === 'rejected');
  if (failed.length > 0) {
    options.logger.warn({ failed: failed.length, err: (failed[0] as PromiseRejectedResult).reason }, 'some expired holds were not released; next round');
  }
  return holds;
}
