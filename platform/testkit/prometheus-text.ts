/**
 * The one reader of Prometheus text exposition (what GET /metrics and prom-client's
 * `registry.metrics()` return) for the tests and the tools, so that assertions are on numbers:
 * a regular expression such as /\} 1/ also matches 10 to 19.
 */
import { requestJson } from './api-client';

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// name, optional {labels}, value, optional timestamp. The label block runs to the line's last `}`:
// a label value may hold a `}`, the value and timestamp never do.
const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?[ \t]*$/;
const LABEL_PAIR = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

function parseLabels(block: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL_PAIR.lastIndex = 0;
  while (LABEL_PAIR.lastIndex < block.length) {
    const start = LABEL_PAIR.lastIndex;
    const match = LABEL_PAIR.exec(block);
    if (!match) {
      if (block.slice(start).trim() === '') break;
      throw new Error(`not a Prometheus label set: ${line}`);
    }
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
  }
  return labels;
}

/** Every sample of a text exposition; comment (# HELP, # TYPE) and blank lines are skipped. */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.push({ name: match[1]!, labels: parseLabels(match[2] ?? '', line), value: parseValue(match[3]!) });
  }
  return samples;
}

/**
 * The value of the series `name` whose labels include every one of `labels` (other labels may
 * differ: the matching series are summed), or undefined when no series matches — a counter that
 * was never incremented for those labels, or a metric that is not exported at all.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  let total: number | undefined;
  for (const sample of parsePrometheusText(text)) {
    if (sample.name !== name || !wanted.every(([key, value]) => sample.labels[key] === value)) continue;
    total = (total ?? 0) + sample.value;
  }
  return total;
}

/** GET `${baseUrl}/metrics`, as text. */
export async function scrapeMetrics(baseUrl: string, timeoutMs = 5_000): Promise<string> {
  const response = await requestJson<unknown>(`${baseUrl}/metrics`, { timeoutMs });
  if (response.status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${response.status}`);
  return response.text;
}

/** metricValue of a running service's GET /metrics. */
export async function scrapeMetric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return metricValue(await scrapeMetrics(baseUrl), name, labels);
}
