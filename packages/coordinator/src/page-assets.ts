/**
 * The files of the coordinator's two web pages, the live dashboard and the
 * board: the page's own from assets/ (one level up from src/ and dist/ alike),
 * the shared smoothing, and uPlot's from its package. Read once, served from
 * memory.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface Asset {
  body: Buffer;
  type: string;
  /** The page needs the token; the code it loads is the package's own and tells nothing about the runs. */
  needsToken: boolean;
}

/** The files of page `name` (assets/NAME.html, NAME.js, NAME.css), by the path they are served at. */
export function pageAssets(name: 'dashboard' | 'board'): Map<string, Asset> {
  const own = (file: string) => readFileSync(new URL(`../assets/${file}`, import.meta.url));
  const uplot = (file: string) => readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${file}`));
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return new Map([
    ['/', { body: own(`${name}.html`), type: 'text/html; charset=utf-8', needsToken: true }],
    [`/${name}.js`, { body: own(`${name}.js`), type: js, needsToken: false }],
    [`/${name}.css`, { body: own(`${name}.css`), type: css, needsToken: false }],
    ['/smooth.js', { body: own('smooth.js'), type: js, needsToken: false }],
    ['/uPlot.iife.min.js', { body: uplot('uPlot.iife.min.js'), type: js, needsToken: false }],
    ['/uPlot.min.css', { body: uplot('uPlot.min.css'), type: css, needsToken: false }],
  ]);
}
