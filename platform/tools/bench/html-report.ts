/**
 * The self-contained HTML report written next to each bench's JSON result (.run/*-result.html):
 * inline SVG charts and a summary table, no script and nothing fetched, so a person opens one file
 * and sees the run. The same charts can be written as standalone SVG files (BENCHMARKS.md embeds them).
 */
import { writeFileSync } from 'node:fs';
import type { LoadSummary } from './bench-report';
import { barChart, escapeXml, lineChart } from './svg-chart';
import type { SecondOfRun } from './timeline';

export interface Chart {
  /** File-name part when the chart is written alone (e.g. bench-throughput.svg). */
  id: string;
  svg: string;
}

export interface Report {
  title: string;
  /** Label and value rows of the summary table. */
  summary: Array<[string, string]>;
  charts: Chart[];
}

type Json = Record<string, unknown>;

export interface BenchResultJson {
  kind: 'bench';
  finished_at: string;
  commit?: string;
  config: { users: number; transfers: number; concurrency: number; hot_pair_share: number; duplicate_share: number; invalid_share: number; stack: string };
  summary: LoadSummary;
  timeline?: SecondOfRun[];
  ok: boolean;
}

const statusLabel = (s: string) => (s === '0' ? 'no answer' : s);

export function benchReport(r: BenchResultJson): Report {
  const t = r.timeline ?? [];
  const s = r.summary;
  const c = r.config;
  const charts: Chart[] = [
    {
      id: 'throughput',
      svg: lineChart({ title: 'Throughput per second of the load', xLabel: 'second of the run', yLabel: 'per second' }, [
        { name: 'transfers committed (201)', points: t.map((x) => [x.second, x.committed]) },
        { name: 'HTTP answers', points: t.map((x) => [x.second, x.requests]) },
      ]),
    },
    {
      id: 'latency',
      svg: lineChart({ title: 'Latency of the answers of each second', xLabel: 'second of the run', yLabel: 'ms' }, [
        { name: 'p50', points: t.map((x) => [x.second, x.p50]) },
        { name: 'p95', points: t.map((x) => [x.second, x.p95]) },
        { name: 'p99', points: t.map((x) => [x.second, x.p99]) },
      ]),
    },
  ];
  const batched = t.filter((x) => x.meanBatchSize !== undefined);
  if (batched.length > 0) {
    charts.push({
      id: 'batches',
      svg: lineChart({ title: 'Money batches (transaction-service /metrics, each second)', xLabel: 'second of the run', yLabel: 'operations / batches' }, [
        { name: 'mean operations per batch', points: batched.map((x) => [x.second, x.meanBatchSize ?? 0]) },
        { name: 'batches committed', points: batched.map((x) => [x.second, x.batches ?? 0]) },
      ]),
    });
  }
  const statuses = Object.entries(s.httpStatus);
  charts.push({
    id: 'statuses',
    svg: barChart({ title: 'HTTP answers by status (the whole load)', xLabel: 'status', yLabel: 'answers' }, statuses.map(([k]) => statusLabel(k)), [
      { name: 'answers', values: statuses.map(([, v]) => v) },
    ]),
  });
  return {
    title: `make bench — ${s.transfersPerSecond.toLocaleString('en-US')} transfers/s, p99 ${s.latencyMs.p99} ms`,
    summary: [
      ['finished', `${r.finished_at}${r.commit ? ` (commit ${r.commit})` : ''}`],
      ['load', `${c.transfers} transfers, ${c.concurrency} clients, ${c.users} users, hot pair ${c.hot_pair_share * 100} %, duplicates ${c.duplicate_share * 100} %, invalid ${c.invalid_share * 100} %, stack ${c.stack}`],
      ['throughput', `${s.transfersPerSecond} transfers/s committed, ${s.requestsPerSecond} HTTP requests/s over ${s.elapsedSeconds} s`],
      ['latency', `p50 ${s.latencyMs.p50} ms, p95 ${s.latencyMs.p95} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`],
      ['statuses', statuses.map(([k, v]) => `${statusLabel(k)}: ${v}`).join(', ')],
      ['invariants', r.ok ? 'all hold' : 'VIOLATED'],
    ],
    charts,
  };
}

export interface CompareResultJson {
  kind: 'bench-compare';
  finished_at: string;
  commit?: string;
  rounds: number;
  uniform_per_transfer: number[];
  uniform_batch: number[];
  hot_per_transfer: number[];
  hot_batch: number[];
  ours_uniform?: number[];
  per_transfer_uniform?: number[];
  batch_uniform?: number[];
  ours_hot?: number[];
  per_transfer_hot?: number[];
  batch_hot?: number[];
  median_uniform_per_transfer: number;
  median_hot_per_transfer: number;
  median_uniform_batch: number;
  median_hot_batch: number;
}

export function compareReport(r: CompareResultJson): Report {
  const rounds = r.uniform_per_transfer.map((_, i) => `round ${i + 1}`);
  const charts: Chart[] = [
    {
      id: 'ratios',
      svg: barChart({ title: 'Ours ÷ per-transfer pgbench, per round (targets: uniform ≥ 2, hot pair ≥ 5)', xLabel: 'round', yLabel: 'ratio' }, rounds, [
        { name: 'uniform', values: r.uniform_per_transfer },
        { name: 'hot pair', values: r.hot_per_transfer },
      ]),
    },
    {
      id: 'ceiling',
      svg: barChart({ title: 'Ours ÷ the batch-SQL ceiling, per round', xLabel: 'round', yLabel: 'ratio' }, rounds, [
        { name: 'uniform', values: r.uniform_batch },
        { name: 'hot pair', values: r.hot_batch },
      ]),
    },
  ];
  for (const [traffic, ours, per, batch] of [
    ['uniform', r.ours_uniform, r.per_transfer_uniform, r.batch_uniform],
    ['hot pair', r.ours_hot, r.per_transfer_hot, r.batch_hot],
  ] as const) {
    if (!ours || !per || !batch) continue;
    charts.push({
      id: `rates-${traffic.replace(' ', '-')}`,
      svg: barChart({ title: `Transfers/s, ${traffic}: ours vs pgbench`, xLabel: 'round', yLabel: 'transfers/s' }, rounds, [
        { name: 'ours (make bench)', values: ours },
        { name: 'per-transfer pgbench', values: per },
        { name: 'batch-SQL ceiling', values: batch },
      ]),
    });
  }
  return {
    title: `make bench-compare — median ${r.median_uniform_per_transfer}× (uniform), ${r.median_hot_per_transfer}× (hot pair)`,
    summary: [
      ['finished', `${r.finished_at}${r.commit ? ` (commit ${r.commit})` : ''}`],
      ['rounds', String(r.rounds)],
      ['uniform', `median ${r.median_uniform_per_transfer}× per-transfer pgbench (target ≥ 2.0), ${r.median_uniform_batch}× the batch ceiling`],
      ['hot pair', `median ${r.median_hot_per_transfer}× per-transfer pgbench (target ≥ 5.0), ${r.median_hot_batch}× the batch ceiling`],
    ],
    charts,
  };
}

export function pipelineReport(r: Json): Report {
  const balances = (r.balances ?? { rates: [] }) as { rates: Array<{ rate: number; latencyMs: { p50: number; p99: number }; statuses: Record<string, number> }>; capacity: number };
  const flood = (r.flood ?? {}) as { rssTimeline?: Array<[number, number]>; healthTimeline?: Array<[number, number]>; maxRssMb?: number; survived?: boolean; handledMs?: number };
  const replay = r.replay as { relayPerSecond?: number; consumerPerSecond?: number } | undefined;
  const rates = balances.rates.map((x) => `${x.rate}/s`);
  const statusNames = [...new Set(balances.rates.flatMap((x) => Object.keys(x.statuses)))].sort();
  const charts: Chart[] = [
    {
      id: 'balance-latency',
      svg: barChart({ title: 'GET /balance latency at each offered rate (open loop)', xLabel: 'offered rate', yLabel: 'ms' }, rates, [
        { name: 'p50', values: balances.rates.map((x) => x.latencyMs.p50 ?? 0) },
        { name: 'p99', values: balances.rates.map((x) => x.latencyMs.p99 ?? 0) },
      ]),
    },
    {
      id: 'balance-statuses',
      svg: barChart({ title: 'GET /balance answers by status at each rate', xLabel: 'offered rate', yLabel: 'answers' }, rates, statusNames.map((s) => ({
        name: statusLabel(s),
        values: balances.rates.map((x) => x.statuses[s] ?? 0),
      }))),
    },
  ];
  if (replay) {
    charts.push({
      id: 'replay',
      svg: barChart({ title: 'Relay and consumer alone, replayed events', xLabel: 'stage', yLabel: 'events/s' }, ['relay', 'consumer'], [
        { name: 'events per second', values: [replay.relayPerSecond ?? 0, replay.consumerPerSecond ?? 0] },
      ]),
    });
  }
  if (flood.rssTimeline && flood.healthTimeline) {
    charts.push({
      id: 'flood',
      svg: lineChart({ title: 'Balance-subject flood: transaction-service RSS and /healthz latency', xLabel: 'seconds since the flood started', yLabel: 'MB / ms' }, [
        { name: 'RSS (MB)', points: flood.rssTimeline },
        { name: '/healthz latency (ms)', points: flood.healthTimeline },
      ]),
    });
  }
  const users = r.users as { lastArrivalAfterLast201Ms?: number } | undefined;
  return {
    title: 'make bench-pipeline',
    summary: [
      ['finished', `${String(r.at)}${typeof r.commit === 'string' ? ` (commit ${r.commit})` : ''}`],
      ['users', users?.lastArrivalAfterLast201Ms !== undefined ? `last arrival ${users.lastArrivalAfterLast201Ms} ms after the last 201` : JSON.stringify(r.users ?? {}).slice(0, 200)],
      ['GET /balance capacity', `${balances.capacity}/s (p99 < 100 ms, no 5xx)`],
      ['replay', replay ? `relay ${replay.relayPerSecond}/s, consumer ${replay.consumerPerSecond}/s` : 'not run'],
      ['flood', `survived: ${String(flood.survived)}, RSS max ${flood.maxRssMb} MB, handled in ${flood.handledMs} ms`],
    ],
    charts,
  };
}

export function reportFor(result: Json): Report {
  if (result.kind === 'bench') return benchReport(result as unknown as BenchResultJson);
  if (result.kind === 'bench-compare') return compareReport(result as unknown as CompareResultJson);
  if ('balances' in result && 'flood' in result) return pipelineReport(result);
  throw new Error(`not a bench result this report knows (kind: ${String(result.kind)})`);
}

export function renderHtml(report: Report): string {
  const rows = report.summary.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('\n');
  const charts = report.charts.map((c) => `<figure id="${escapeXml(c.id)}">${c.svg}</figure>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(report.title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:820px}table{border-collapse:collapse;margin-bottom:16px}th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #ddd;vertical-align:top}figure{margin:0 0 16px}</style>
</head><body>
<h1>${escapeXml(report.title)}</h1>
<table>
${rows}
</table>
${charts}
</body></html>
`;
}

/** Writes `<result>.html` next to the JSON result; returns its path. */
export function writeHtmlReport(jsonFile: string, result: Json): string {
  const file = jsonFile.replace(/\.json$/, '') + '.html';
  writeFileSync(file, renderHtml(reportFor(result)));
  return file;
}
