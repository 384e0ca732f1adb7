/**
 * GET /join on the coordinator's port: the page that makes a browser tab a
 * worker (packages/worker/src/browser/), its scripts and the kernels' binaries,
 * and GET /join/check, where the page asks why its WebSocket was refused (a
 * browser hides the upgrade's HTTP status). The page is cross-origin isolated
 * (COOP and COEP), so the tab gets a shared memory and computes on several
 * threads; `/join?isolation=off` serves it without, on one thread. Nothing here
 * needs the token or tells anything of the run: the token travels in the link's
 * fragment, which a browser never sends, and is checked at the upgrade.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { admission, upgradeRequired, type ErrorCode } from '@shardprop/protocol';
import { BROWSER_DIR } from '@shardprop/worker';
import { COMMON_HEADERS, neverThrows, reply } from './dashboard/http.js';

export const JOIN_PATH = '/join';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const FILES: Record<string, string> = {
  'page.js': 'text/javascript; charset=utf-8',
  'tab-worker.js': 'text/javascript; charset=utf-8',
  'join.css': 'text/css; charset=utf-8',
  'kernels.wasm': 'application/wasm',
  'kernels-unshared.wasm': 'application/wasm',
};

/** Where the page and its worker may load from and connect to: this origin (its WebSocket too), blob: for the kernels' threads. */
const POLICY = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval' blob:; worker-src 'self' blob:; connect-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** Cross-origin isolation: what a page needs for a shared WebAssembly memory. */
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** The built files, read once (null when the package build has not made them: the page then says how to). */
function readFiles(): Map<string, Buffer> | null {
  try {
    return new Map(['join.html', ...Object.keys(FILES)].map((name) => [name, readFileSync(`${BROWSER_DIR}${name}`)]));
  } catch {
    return null;
  }
}

/** A refused question at /join/check, for the log (never with the token): someone may be guessing. */
export type OnRefused = (address: string, code: ErrorCode, reason: string) => void;

/** `next` (/healthz, the dashboard, or 426) with /join and its files answered first; `token` is the coordinator's --token-file. */
export function withJoinPage(next: Handler = upgradeRequired, token?: string, onRefused?: OnRefused): Handler {
  let files: Map<string, Buffer> | null | undefined;
  return neverThrows((req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== JOIN_PATH && !path.startsWith(`${JOIN_PATH}/`)) return next(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return reply(res, 405, 'method not allowed');
    }
    const name = path === JOIN_PATH || path === `${JOIN_PATH}/` ? 'join.html' : path.slice(JOIN_PATH.length + 1);
    if (name === 'check') return check(req, res, token, onRefused);
    files ??= readFiles();
    if (files === null) return reply(res, 503, 'the browser worker is not built here: run `pnpm build` (or `pnpm test`) in the shardprop checkout');
    const body = files.get(name);
    if (!body) return reply(res, 404, 'not found');
    const isolated = new URLSearchParams(q < 0 ? '' : url.slice(q + 1)).get('isolation') !== 'off';
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': FILES[name] ?? 'text/html; charset=utf-8',
      'content-length': body.length,
      'content-security-policy': POLICY,
      'cross-origin-resource-policy': 'same-origin',
      ...(isolated ? ISOLATION : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** 204 when a WebSocket from this page would be let in; else the refusal the upgrade gave, as JSON {code, reason}. */
function check(req: IncomingMessage, res: ServerResponse, token: string | undefined, onRefused?: OnRefused): void {
  const admitted = admission(req, token, true);
  if (admitted.ok) return void res.writeHead(204, COMMON_HEADERS).end();
  onRefused?.(`${req.socket.remoteAddress}:${req.socket.remotePort}`, admitted.code, admitted.reason);
  const body = Buffer.from(JSON.stringify({ code: admitted.code, reason: admitted.reason }));
  res.writeHead(admitted.status, { ...COMMON_HEADERS, 'content-type': 'application/json', 'content-length': body.length }).end(body);
}
