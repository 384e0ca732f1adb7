import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@shardprop/protocol';

/**
 * What the README and docs/ say about the repository: every relative link points to a
 * file in it (nothing outside the repository, which a clone does not have), and the
 * protocol version they name is the one runs record.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGES = ['README.md', 'docs/design.md', 'docs/errors.md', 'docs/scaling.md'];
const read = (page: string): string => readFileSync(join(ROOT, page), 'utf8');

describe('README.md and docs/', () => {
  it.each(PAGES)('%s: every relative link is a file or folder of the repository', (page) => {
    const links = [...read(page).matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)].map((m) => m[1]).filter((href) => !/^[a-z]+:/.test(href));
    for (const href of links) {
      const target = join(ROOT, dirname(page), href);
      expect(relative(ROOT, target).startsWith('..'), `${page}: ${href} leaves the repository`).toBe(false);
      expect(existsSync(target), `${page}: ${href} does not exist`).toBe(true);
    }
  });

  it.each(PAGES)('%s names no file outside the repository (../)', (page) => {
    expect(read(page)).not.toMatch(/`\.\.\/[^`]*`/);
  });

  it('the run record the README shows has the protocol version runs record', () => {
    const shown = /"protocol": (\d+)/.exec(read('README.md'));
    expect(Number(shown?.[1])).toBe(PROTOCOL_VERSION);
    expect(read('packages/protocol/README.md')).toContain(`## Protocol (version ${PROTOCOL_VERSION})`);
  });
});
