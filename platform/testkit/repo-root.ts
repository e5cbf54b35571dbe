import { join } from 'node:path';

/** The repository root, from platform/dist/testkit: tools and tests find scripts and files from it. */
export const REPO_ROOT = join(__dirname, '..', '..', '..');
