import { AppError, declareMetrics, type Knex, type Logger, type MetricsRegistry } from '@wallet/platform';
import { reconcileBalances, type ReconcileReport } from './reconcile-balances';

export interface ReconcileRunner {
  /** Runs one reconciliation now (the operators' endpoint) and exports its result. */
  run(): Promise<ReconcileReport>;
  stop(): Promise<void>;
}

/**
 * Reconciliation as something Prometheus can watch: every run's result, whether an operator asked
 * for it (GET /internal/reconcile) or the schedule did, is exported, so a mismatch becomes an alert
 * instead of a report nobody reads. Every `intervalMs` (0: never) a run is started here; beside
 * another instance's run it is refused (reconcile_in_progress) and simply skipped: that one reports.
 */
export function startReconcileSchedule(options: { knex: Knex; logger: Logger; metrics: MetricsRegistry; intervalMs: number }): ReconcileRunner {
  const metric = declareMetrics(options.metrics);
  const mismatches = metric.gauge('wallet_reconcile_mismatches', 'Mismatches found by the last completed reconciliation (0: the books agree)');
  const lastRun = metric.gauge('wallet_reconcile_last_run_timestamp_seconds', 'When the last completed reconciliation took its snapshot (Unix time)');
  const run = async (): Promise<ReconcileReport> => {
    const report = await reconcileBalances(options.knex);
    mismatches.set(report.mismatch_count);
    lastRun.set(Date.parse(report.checked_at) / 1000);
    return report;
  };
  let running: Promise<void> | undefined;
  const tick = (): void => {
    if (running) return;
    running = run()
      .then((report) => {
        if (!report.ok) options.logger.error({ mismatchCount: report.mismatch_count, mismatches: report.mismatches.slice(0, 10) }, 'scheduled reconciliation found mismatches');
        else options.logger.info({ users: report.users_checked, transfers: report.transfers_checked, ms: report.duration_ms }, 'scheduled reconciliation: the books agree');
      })
      .catch((error: unknown) => {
        if (error instanceof AppError && error.code === 'reconcile_in_progress') options.logger.debug('scheduled reconciliation skipped: another one is running');
        else options.logger.warn({ err: error }, 'scheduled reconciliation failed; the next interval tries again');
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = options.intervalMs > 0 ? setInterval(tick, options.intervalMs) : undefined;
  timer?.unref();
  return {
    run,
    stop: async () => {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
