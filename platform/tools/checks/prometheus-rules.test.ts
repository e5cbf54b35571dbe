/**
 * The Prometheus configuration and alert rules (platform/tools/observability) checked by Prometheus'
 * own tool: both configs load, the rules parse, and every alert's promtool unit test passes (it fires
 * on a synthetic series and stays silent on a normal one). Also: every alert has such a test and a
 * runbook line in the README, and every metric an alert reads is one the code declares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, runToCompletion } from '@wallet/platform/testkit';

const DIR = join(REPO_ROOT, 'platform', 'tools', 'observability');
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = hasPromtool ? false : 'promtool is not installed (apt-get install prometheus; .ci/run installs it)';

interface Rules {
  groups: Array<{ name: string; rules: Array<{ alert?: string; expr: string; for?: string }> }>;
}
const rules = parseYaml(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as Rules;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r): r is { alert: string; expr: string } => r.alert !== undefined);

async function promtool(...args: string[]): Promise<void> {
  const result = await runToCompletion('promtool', args, { cwd: DIR });
  assert.equal(result.code, 0, `promtool ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
}

test('promtool: both Prometheus configurations load, with their rules', { skip }, async () => {
  await promtool('check', 'config', 'prometheus.yml');
  await promtool('check', 'config', 'prometheus.compose.yml');
});

test('promtool: the alert rules parse', { skip }, async () => {
  await promtool('check', 'rules', 'alerts.yml');
});

test('promtool: every alert fires on its synthetic series and stays silent on the normal one', { skip }, async () => {
  await promtool('test', 'rules', 'alerts.test.yml');
});

test('every alert has a promtool unit test that expects it to fire, and a runbook line in the README', () => {
  const unitTests = parseYaml(readFileSync(join(DIR, 'alerts.test.yml'), 'utf8')) as {
    tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
  };
  const cases = unitTests.tests.flatMap((t) => t.alert_rule_test ?? []);
  const runbooks = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split(/^### Alert runbooks$/m)[1] ?? '';
  assert.ok(alerts.length >= 12, `alerts found: ${alerts.map((a) => a.alert).join(', ')}`);
  for (const { alert } of alerts) {
    assert.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} has a test where it fires`);
    assert.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} has a test where it stays silent`);
    assert.match(runbooks, new RegExp(`^\\| \`${alert}\` \\|`, 'm'), `${alert} has a runbook row in the README`);
  }
});

/** Every TypeScript source a deployed process runs (each service's src, the runtime library). */
function runtimeSources(): string {
  const roots = ['user-service/src', 'transaction-service/src', 'outbox-relay/src', 'platform/runtime'];
  const read = (dir: string): string[] =>
    readdirSync(dir).flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return read(path);
      return entry.endsWith('.ts') ? [readFileSync(path, 'utf8')] : [];
    });
  return roots.flatMap((root) => read(join(REPO_ROOT, root))).join('\n');
}

test('every metric an alert reads is declared by the code (no invented names)', () => {
  const sources = runtimeSources();
  // Prometheus' own series and PromQL's words, not metrics.
  const notMetrics = new Set(['up', 'by', 'sum', 'max', 'rate', 'increase', 'histogram_quantile', 'and', 'or', 'unless', 'le', 'job', 'instance']);
  for (const { alert, expr } of alerts) {
    const withoutStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\([^()]*\)\s*\(/g, '(');
    const names = [...withoutStrings.matchAll(/\b([a-z_][a-z0-9_]*)\b(?!\s*\()/g)].map((m) => m[1]!);
    for (const name of names.filter((n) => !notMetrics.has(n) && n.includes('_'))) {
      const declared = name.replace(/_(bucket|count|sum)$/, '');
      assert.ok(sources.includes(`'${declared}'`), `${alert}: ${name} is declared in the code`);
    }
  }
});
