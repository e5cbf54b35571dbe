/**
 * The benches' HTML reports, rendered from the measured results committed in benchmarks/, opened in
 * headless Chromium: every chart is drawn (its SVG has paths), nothing fails in the page and nothing
 * is fetched from anywhere; a screenshot of each is left in .run/ for a person to look at. And the
 * charts BENCHMARKS.md embeds are exactly what render-report makes from those results today.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from '@wallet/platform/testkit';
import { renderHtml, reportFor } from '../bench/html-report';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DATA = join(REPO_ROOT, 'benchmarks');
const OUT = join(REPO_ROOT, '.run', 'bench-report-test');
const results = readdirSync(DATA).filter((f) => f.endsWith('-result.json')).sort();
const load = (file: string) => JSON.parse(readFileSync(join(DATA, file), 'utf8')) as Record<string, unknown>;

test('benchmarks/ holds a measured result of make bench and of make bench-compare', () => {
  assert.ok(results.includes('bench-result.json'), results.join(', '));
  assert.ok(results.includes('bench-compare-result.json'), results.join(', '));
});

test('the committed charts are what render-report draws from the committed results', () => {
  for (const file of results) {
    const prefix = file.replace(/-result\.json$/, '');
    for (const chart of reportFor(load(file)).charts) {
      const svg = join(DATA, `${prefix}-${chart.id}.svg`);
      assert.ok(existsSync(svg), `${svg} exists (README of benchmarks/: the command that writes it)`);
      assert.equal(readFileSync(svg, 'utf8'), `${chart.svg}\n`, `${svg} is up to date`);
    }
  }
});

describe('the HTML reports in a real browser', () => {
  let browser: Browser | undefined;
  before(async () => {
    if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });
  after(async () => {
    await browser?.close();
  });

  for (const file of results) {
    test(`${file}: every chart is drawn, no script error, nothing fetched`, async (t) => {
      if (!browser) {
        t.skip(`${CHROMIUM} is not installed (apt-get install chromium); the browser check did not run`);
        return;
      }
      mkdirSync(OUT, { recursive: true });
      const report = reportFor(load(file));
      const html = join(OUT, file.replace(/\.json$/, '.html'));
      writeFileSync(html, renderHtml(report));
      const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('request', (request) => {
        if (!request.url().startsWith('file:')) problems.push(`fetched ${request.url()}`);
      });
      try {
        await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
        const figures = await page.locator('figure').all();
        assert.equal(figures.length, report.charts.length);
        for (const figure of figures) {
          const id = await figure.getAttribute('id');
          const paths = await figure.locator('svg path').count();
          assert.ok(paths > 0, `chart ${id} draws paths`);
          const box = await figure.locator('svg').boundingBox();
          assert.ok(box && box.width > 100 && box.height > 100, `chart ${id} has a size on the page`);
        }
        assert.match(await page.locator('h1').innerText(), /make bench/);
        assert.deepEqual(problems, [], 'no script error, nothing fetched');
        await page.screenshot({ path: join(REPO_ROOT, '.run', `${file.replace(/-result\.json$/, '')}-report.png`), fullPage: true });
      } finally {
        await page.close();
      }
    });
  }
});
