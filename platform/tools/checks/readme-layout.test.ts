/**
 * The README's "Repository layout" section names the tree as it is: every folder or file it lists
 * exists, and every folder at the top of the repository and of platform/ is listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@wallet/platform/testkit';

/** The entries of the layout block: top-level names, and names indented under the last top-level folder. */
function layoutEntries(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Repository layout$/m)[1] ?? '';
  const block = /^```\n([\s\S]*?)^```$/m.exec(section)?.[1] ?? '';
  const entries: string[] = [];
  let parent = '';
  for (const line of block.split('\n')) {
    const top = /^(\S+)\s/.exec(line)?.[1];
    const nested = /^ {2}(\S+\/)\s/.exec(line)?.[1];
    if (top) {
      entries.push(top);
      parent = top.endsWith('/') ? top : '';
    } else if (nested && parent) {
      entries.push(parent + nested);
    }
  }
  return entries;
}

const folders = (dir: string) =>
  readdirSync(join(REPO_ROOT, dir)).filter(
    (name) => !name.startsWith('.') && !['node_modules', 'dist'].includes(name) && statSync(join(REPO_ROOT, dir, name)).isDirectory(),
  );

test("the README's repository layout names what exists, and every folder of the top and of platform/", () => {
  const entries = layoutEntries();
  assert.ok(entries.length >= 10, `layout block found: ${entries.join(', ')}`);
  for (const entry of entries) assert.ok(existsSync(join(REPO_ROOT, entry)), `${entry} exists`);
  for (const folder of folders('.')) assert.ok(entries.includes(`${folder}/`), `${folder}/ is in the layout`);
  for (const folder of folders('platform')) assert.ok(entries.includes(`platform/${folder}/`), `platform/${folder}/ is in the layout`);
  assert.ok(entries.includes('.ci/run'));
});
