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
  close(): Promise<void>;
}

/**
 * A fresh Chromium profile and its page, with no deadline on the launch or on any
 * wait (the test's timeout bounds a hang); close() ends it and removes the profile.
 */
export async function openBrowser(): Promise<Browser> {
  const profile = tempDir('shardprop-chromium-');
  try {
    const context = await chromium.launchPersistentContext(profile.dir, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 0 });
    context.setDefaultTimeout(0);
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (err) => problems.push(err.message));
    return { page, problems, close: async () => (await context.close(), profile.remove()) };
  } catch (err) {
    profile.remove();
    throw err;
  }
}
