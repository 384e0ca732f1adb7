/**
 * `shardprop board`'s web server: a page listing the runs under a folder (past
 * and live), their curves and their records, read again at every request so that
 * new runs appear without a restart. Read-only, local by default, and under the
 * dashboard's rules (dashboard/http.ts): a loopback Host unless a token is given.
 */
import { statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { TOKEN_HEADER } from '@shardprop/protocol';
import type { Logger } from '@shardprop/worker';
import { COMMON_HEADERS, PAGE_POLICY, isLoopbackHost, neverThrows, reply } from '../dashboard/http.js';
import { UsageError } from '../options.js';
import { pageAssets } from '../page-assets.js';
import { isLoopback, sameSecret } from '@shardprop/protocol';
import { RunFolders } from './runs.js';

export interface BoardOptions {
  /** The folder of runs (the CLI's default: runs/). */
  dir: string;
  host?: string;
  /** 0 (the default): a free port. */
  port?: number;
  /** Needed to listen beyond loopback: the page and its data then ask for it (?token= or the x-shardprop-token header). */
  token?: string;
  log?: Logger;
}

export interface Board {
  /** The page's address (without the token). */
  url: string;
  close(): Promise<void>;
}


/** GET /api/runs: the listing; GET /api/curves?id=ID: one run's curves. */
const RUNS_PATH = '/api/runs';
const CURVES_PATH = '/api/curves';

/** The board's request handler: the page, its files and its two JSON answers; 404, 405 for anything else. */
export class BoardHttp {
  private readonly assets = pageAssets('board');

  constructor(private readonly runs: RunFolders, private readonly token?: string) {}

  readonly handle = neverThrows((req, res) => this.route(req, res));

  private route(req: IncomingMessage, res: ServerResponse): void {
    // DNS rebinding: see DashboardHttp
    if (this.token === undefined && !isLoopbackHost(req.headers.host)) {
      return reply(res, 403, 'without a token this board answers only to a loopback Host (127.0.0.1, localhost, [::1])');
    }
    const url = new URL(req.url ?? '/', 'http://board');
    const api = url.pathname === RUNS_PATH || url.pathname === CURVES_PATH;
    const asset = this.assets.get(url.pathname);
    if (!api && !asset) return reply(res, 404, 'not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return reply(res, 405, 'method not allowed');
    }
    if ((api || asset!.needsToken) && !this.authorised(req, url.searchParams)) {
      return reply(res, 401, 'this board needs its token: add ?token=... (the content of --token-file) to its address');
    }
    if (asset) return send(req, res, asset.body, asset.type, url.pathname === '/' ? { 'content-security-policy': PAGE_POLICY } : {});
    if (url.pathname === RUNS_PATH) return sendJson(req, res, { dir: this.runs.dir, runs: this.runs.list() });
    const curves = this.runs.curves(url.searchParams.get('id') ?? '');
    if (!curves) return reply(res, 404, 'no such run under this board\'s folder');
    sendJson(req, res, curves);
  }

  private authorised(req: IncomingMessage, query: URLSearchParams): boolean {
    if (this.token === undefined) return true;
    const header = req.headers[TOKEN_HEADER];
    const given = typeof header === 'string' ? header : query.get('token');
    return given !== null && sameSecret(given, this.token);
  }
}

function send(req: IncomingMessage, res: ServerResponse, body: Buffer, type: string, extra: Record<string, string> = {}): void {
  res.writeHead(200, { ...COMMON_HEADERS, ...extra, 'content-type': type, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  send(req, res, Buffer.from(JSON.stringify(value)), 'application/json; charset=utf-8');
}

/**
 * Serves the board of the runs under `dir` until close(). Beyond loopback only
 * with a token; a folder that does not exist yet is fine (runs appear as they
 * are made), a file in its place is not.
 */
export async function serveBoard(options: BoardOptions): Promise<Board> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && options.token === undefined) {
    throw new UsageError(`board: listening on ${host} needs a token (--token-file): anyone who can reach the port could read every run's record`);
  }
  const dir = resolve(options.dir);
  let isFolder = true;
  try {
    isFolder = statSync(dir).isDirectory();
  } catch {
    // not there yet
  }
  if (!isFolder) throw new UsageError(`board: ${options.dir} is not a folder; name the folder of runs (default runs/)`);
  const http = new BoardHttp(new RunFolders(dir), options.token);
  const server = createServer(http.handle);
  // a local page: requests are small and quick; slow or idle sockets are not kept
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await listen(server, host, options.port ?? 0);
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  options.log?.info({ url, dir }, 'board serving');
  return {
    url,
    close: () => new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') fail(new UsageError(`board: port ${port} on ${host} is in use; choose another --port, or 0 for a free one`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') fail(new UsageError(`board: cannot listen on ${host} (${err.code}); give an address of this machine`));
      else fail(err);
    });
    server.listen(port, host, () => done());
  });
}
