import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';
import { tempDir } from './cli.js';

/** Debian's headless Chromium, where the page tests run (skipped where it is missing). */
export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  page: Page;
  /** The page's console errors and uncaught exceptions so far. */
  problems: string[];
  /** The processes of this browser: the one started with this profile and all it started (renderers among them). */
  pids(): number[];
  close(): Promise<void>;
}

/**
 * A fresh Chromium profile and its page, with no deadline on the launch or on any
 * wait (the test's timeout bounds a hang); close() ends it and removes the profile.
 */
export async function openBrowser(options: { ignoreHTTPSErrors?: boolean } = {}): Promise<Browser> {
  const profile = tempDir('shardprop-chromium-');
  try {
    const context = await chromium.launchPersistentContext(profile.dir, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 0, ignoreHTTPSErrors: options.ignoreHTTPSErrors });
    context.setDefaultTimeout(0);
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (err) => problems.push(err.message));
    return { page, problems, pids: () => processTree(`--user-data-dir=${profile.dir}`), close: async () => (await context.close(), profile.remove()) };
  } catch (err) {
    profile.remove();
    throw err;
  }
}

/** The process whose command line holds `marker`, and all its descendants. */
function processTree(marker: string): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).split('\n').map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)).filter((m) => m !== null);
  const tree = new Set(rows.filter((m) => m[3].includes(marker) && !m[3].includes('--type=')).map((m) => Number(m[1])));
  for (let grew = true; grew; ) {
    grew = false;
    for (const m of rows) if (tree.has(Number(m[2])) && !tree.has(Number(m[1]))) (tree.add(Number(m[1])), (grew = true));
  }
  return [...tree];
}
