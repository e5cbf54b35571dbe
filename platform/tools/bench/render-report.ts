/**
 * Renders a bench's JSON result as its HTML report (next to it), and with --svg-dir each chart as
 * a standalone SVG file `<prefix>-<chart>.svg` (the charts BENCHMARKS.md embeds):
 *   node platform/dist/tools/bench/render-report.js <result.json> [--svg-dir <dir> --prefix <name>]
 * make bench, bench-compare and bench-pipeline call the same code themselves.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '@wallet/platform';
import { reportFor, writeHtmlReport } from './html-report';

function main(): Promise<number> {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) return Promise.reject(new Error('usage: render-report.js <result.json> [--svg-dir <dir> --prefix <name>]'));
  const option = (name: string) => {
    const at = rest.indexOf(name);
    return at >= 0 ? rest[at + 1] : undefined;
  };
  const result = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  process.stdout.write(`report written to ${writeHtmlReport(file, result)}\n`);
  const svgDir = option('--svg-dir');
  if (svgDir) {
    const prefix = option('--prefix') ?? (typeof result.kind === 'string' ? result.kind : 'bench-pipeline');
    mkdirSync(svgDir, { recursive: true });
    for (const chart of reportFor(result).charts) {
      const out = join(svgDir, `${prefix}-${chart.id}.svg`);
      writeFileSync(out, `${chart.svg}\n`);
      process.stdout.write(`chart written to ${out}\n`);
    }
  }
  return Promise.resolve(0);
}

runCli('render-report', main);
