/**
 * `make reconcile`: recomputes every balance from the ledger, checks every transfer's two legs,
 * prints the report as JSON on stdout and exits 1 when anything does not match (2 when the check
 * itself could not run), so it can gate a deploy or page someone from cron.
 * Options: --limit N (mismatches listed per kind, default 100).
 */
import { createKnex, runCli } from '@wallet/platform';
import { loadTransactionServiceConfig } from '../config';
import { reconcileBalances } from '../domain/reconcile-balances';

function parseLimit(argv: string[]): number {
  const index = argv.indexOf('--limit');
  if (index === -1) return 100;
  const value = Number(argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error('--limit needs a positive integer');
  return value;
}

async function main(): Promise<number> {
  const config = loadTransactionServiceConfig();
  const knex = createKnex({ url: config.databaseUrl, poolMax: 1, applicationName: 'transaction-service-reconcile' });
  try {
    const report = await reconcileBalances(knex, { limit: parseLimit(process.argv.slice(2)) });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (!report.ok) process.stderr.write(`reconcile: ${report.mismatch_count} mismatch(es) found\n`);
    return report.ok ? 0 : 1;
  } finally {
    await knex.destroy();
  }
}

runCli('reconcile', main);
