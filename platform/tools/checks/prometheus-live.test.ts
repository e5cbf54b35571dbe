/**
 * A real Prometheus (the machine's binary) with the repository's alert rules against a private
 * stack (user-service, transaction-service and the relay as child processes): every target is
 * scraped (up == 1), the rules are loaded, and a real poison message, dead-lettered by
 * transaction-service, makes WalletDeadLetter fire — read from Prometheus' own /api/v1/alerts —
 * within its `for:` window plus a scrape and an evaluation interval (1 s each here).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { parse as parseYaml } from 'yaml';
import { findFreePort, REPO_ROOT, requestJson, testKafka, waitFor } from '@wallet/platform/testkit';
import { startPrivateStack, type PrivateStack } from '../bench/private-stack';

const RULES = join(REPO_ROOT, 'platform', 'tools', 'observability', 'alerts.yml');
const INTERVAL_S = 1;
const hasPrometheus = spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = hasPrometheus ? false : 'prometheus is not installed (apt-get install prometheus; .ci/run installs it)';

let stack: PrivateStack | undefined;
let prometheus: ChildProcess | undefined;
let prometheusOutput = '';
let workDir = '';
let promUrl = '';

/** The repository's native config with this stack's ports and 1 s intervals, the rules by absolute path. */
function writeConfig(dir: string, s: PrivateStack): string {
  const target = (url: string) => new URL(url).host;
  const jobs = { 'user-service': s.userUrl, 'transaction-service': s.txUrl, 'outbox-relay': s.relayUrl };
  const config = [
    'global:',
    `  scrape_interval: ${INTERVAL_S}s`,
    `  scrape_timeout: ${INTERVAL_S}s`,
    `  evaluation_interval: ${INTERVAL_S}s`,
    'rule_files:',
    `  - ${JSON.stringify(RULES)}`,
    'scrape_configs:',
    ...Object.entries(jobs).flatMap(([job, url]) => [`  - job_name: ${job}`, '    static_configs:', `      - targets: ['${target(url)}']`]),
  ].join('\n');
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, `${config}\n`);
  return file;
}

async function api<T>(path: string): Promise<T> {
  const response = await requestJson<{ status: string; data: T }>(`${promUrl}${path}`, { timeoutMs: 5_000 });
  assert.equal(response.status, 200, `${path}: ${response.text}`);
  return response.body.data;
}

before(async () => {
  if (skip) return;
  stack = await startPrivateStack({ logLevel: 'warn', relayMaxBackoffMs: 2_000, name: 'observe' });
  workDir = mkdtempSync(join(tmpdir(), 'wallet-prometheus-'));
  const port = await findFreePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${writeConfig(workDir, stack)}`, `--storage.tsdb.path=${join(workDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => (prometheusOutput = (prometheusOutput + chunk.toString('utf8')).slice(-10_000));
  prometheus.stdout?.on('data', keep);
  prometheus.stderr?.on('data', keep);
  await waitFor(async () => ((await requestJson<unknown>(`${promUrl}/-/ready`, { timeoutMs: 1_000 })).status === 200 ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: `Prometheus ready at ${promUrl}`,
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${prometheusOutput}`);
  });
});

after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
    prometheus.kill('SIGTERM');
    const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await stack?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface Target {
  labels: { job: string };
  health: string;
  lastError: string;
}
interface Alert {
  labels: Record<string, string>;
  state: string;
  activeAt: string;
}

test('every target is scraped: up == 1 for the three processes', { skip }, async () => {
  const targets = await waitFor(
    async () => {
      const { activeTargets } = await api<{ activeTargets: Target[] }>('/api/v1/targets');
      return activeTargets.length === 3 && activeTargets.every((t) => t.health === 'up') ? activeTargets : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250, what: 'every target up' },
  );
  assert.deepEqual(targets.map((t) => t.labels.job).sort(), ['outbox-relay', 'transaction-service', 'user-service']);
  const up = await api<{ result: Array<{ metric: { job: string }; value: [number, string] }> }>('/api/v1/query?query=up');
  assert.deepEqual(up.result.map((r) => [r.metric.job, r.value[1]]).sort(), [['outbox-relay', '1'], ['transaction-service', '1'], ['user-service', '1']]);
});

test("the alerts page lists the repository's rules, none firing on a healthy stack", { skip }, async () => {
  const expected = (parseYaml(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string }> }> }).groups
    .flatMap((g) => g.rules.map((r) => r.alert))
    .filter((name): name is string => name !== undefined)
    .sort();
  const { groups } = await api<{ groups: Array<{ rules: Array<{ name: string; type: string; health: string }> }> }>('/api/v1/rules?type=alert');
  const loaded = groups.flatMap((g) => g.rules);
  assert.deepEqual(loaded.map((r) => r.name).sort(), expected);
  assert.ok(loaded.every((r) => r.health !== 'err'), JSON.stringify(loaded.filter((r) => r.health === 'err')));
  // The page a person opens: /alerts upstream; Debian's package serves only the classic UI.
  let page = await requestJson<unknown>(`${promUrl}/alerts`, { timeoutMs: 5_000 });
  if (page.status === 404) page = await requestJson<unknown>(`${promUrl}/classic/alerts`, { timeoutMs: 5_000 });
  assert.equal(page.status, 200);
  for (const name of expected) assert.ok(page.text.includes(name), `the alerts page lists ${name}`);
  const { alerts } = await api<{ alerts: Alert[] }>('/api/v1/alerts');
  assert.deepEqual(alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname), []);
});

test('a real poison message dead-lettered makes WalletDeadLetter fire within for + a scrape + an evaluation', { skip }, async () => {
  const s = stack!;
  // Prometheus must have seen the counter at 0 first: the alert is an increase.
  const deadLettered = 'user_created_events_consumed_total{outcome="dead_lettered"}';
  await waitFor(
    async () => {
      const { result } = await api<{ result: Array<{ value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(deadLettered)}`);
      return result[0]?.value[1] === '0' ? true : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 250, what: 'the dead-letter counter at 0 in Prometheus' },
  );

  // Produced as the relay does (its login and ACLs), but not JSON: it can never be applied.
  const producer = testKafka('observe-poison', 'outbox-relay').producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic: s.topic, acks: -1, messages: [{ key: randomUUID(), value: '{"user_id": "not json', headers: { 'event-id': randomUUID() } }] });
  } finally {
    await producer.disconnect();
  }
  // The moment transaction-service counts it on its own /metrics: from here the alert's clock runs.
  const counted = await waitFor(
    async () => {
      const text = (await requestJson<unknown>(`${s.txUrl}/metrics`, { timeoutMs: 2_000 })).text;
      return /^user_created_events_consumed_total\{outcome="dead_lettered"[^}]*\} 1$/m.test(text) ? Date.now() : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 50, what: 'the poison message dead-lettered' },
  );
  const firing = await waitFor(
    async () => {
      const { alerts } = await api<{ alerts: Alert[] }>('/api/v1/alerts');
      const alert = alerts.find((a) => a.labels.alertname === 'WalletDeadLetter' && a.state === 'firing');
      return alert ? { alert, at: Date.now() } : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: 'WalletDeadLetter firing' },
  );
  assert.equal(firing.alert.labels.job, 'transaction-service');
  assert.equal(firing.alert.labels.severity, 'warning');
  // for: 0 + one scrape + one evaluation, plus 2 s for this shared two-core machine and the polling.
  const boundMs = (0 + 2 * INTERVAL_S) * 1000 + 2_000;
  assert.ok(firing.at - counted <= boundMs, `fired ${firing.at - counted} ms after the dead letter was counted (bound ${boundMs} ms)`);
});
