import type { IncomingMessage, ServerResponse } from 'node:http';
import { TOKEN_HEADER } from '@shardprop/protocol';
import type { Logger } from '@shardprop/worker';
import { METRICS_CONTENT_TYPE, type RunMetrics } from '../metrics.js';
import { pageAssets } from '../page-assets.js';
import { isLoopback, sameSecret } from '@shardprop/protocol';
import { Feed } from './feed.js';
import type { DashboardState } from './state.js';

/** The path of the live feed (server-sent events). */
const FEED_PATH = '/events';
/** The run's figures for Prometheus (metrics.ts). */
const METRICS_PATH = '/metrics';

/** The page's address on the coordinator's port: ws://HOST:PORT → http://HOST:PORT/ (wss → https). */
export function dashboardUrl(coordinatorUrl: string): string {
  return `${coordinatorUrl.replace(/^ws/, 'http')}/`;
}


/** A request handler that never throws: a failure answers 500, or cuts a response already under way. */
export function neverThrows(route: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    try {
      route(req, res);
    } catch {
      if (res.headersSent) res.destroy();
      else reply(res, 500, 'internal error');
    }
  };
}

export const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
export const PAGE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface DashboardHttpOptions {
  /** When set (the user's --token-file), the page and the feed need it: `?token=` or the x-shardprop-token header. */
  token?: string;
  /** Where a failure of the live feed is logged. */
  log?: Logger;
  /** Served at GET /metrics, under the same token rule as the page. */
  metrics?: RunMetrics;
}

/**
 * The dashboard's HTTP side, on the coordinator's port: GET / (the page),
 * GET /events (the live feed), GET /metrics (for Prometheus) and the page's scripts and styles; 404 for any
 * other path, 405 for any other method. Read-only: nothing here can change the run.
 */
export class DashboardHttp {
  private readonly assets = pageAssets('dashboard');
  private readonly feed: Feed;

  constructor(state: DashboardState, private readonly options: DashboardHttpOptions = {}) {
    this.feed = new Feed(state, options.log);
  }

  /** The request handler (for TransportOptions.onRequest). Never throws. */
  readonly handle = neverThrows((req, res) => this.route(req, res));

  /** Ends every live feed, after a last frame with the run's final status. */
  close(): void {
    this.feed.close();
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    // DNS rebinding: a page from any site whose name was pointed at 127.0.0.1 would
    // read the dashboard as same-origin; its requests still carry that name as Host
    if (this.options.token === undefined && !isLoopbackHost(req.headers.host)) {
      return reply(res, 403, 'without a token this dashboard answers only to a loopback Host (127.0.0.1, localhost, [::1])');
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const isFeed = path === FEED_PATH;
    const metrics = path === METRICS_PATH ? this.options.metrics : undefined;
    const asset = this.assets.get(path);
    if (!isFeed && !metrics && !asset) return reply(res, 404, 'not found');
    const methods = isFeed ? ['GET'] : ['GET', 'HEAD'];
    if (!methods.includes(req.method ?? '')) {
      res.setHeader('allow', methods.join(', '));
      return reply(res, 405, 'method not allowed');
    }
    if ((isFeed || metrics || asset!.needsToken) && !this.authorised(req, query)) {
      return reply(res, 401, 'this dashboard needs the coordinator\'s token: add ?token=... (the content of --token-file) to its address');
    }
    if (isFeed) {
      if (this.feed.failed) return reply(res, 503, 'the live feed has stopped after an error (see the coordinator\'s log)');
      if (this.feed.full) return reply(res, 503, 'too many live dashboards; close one and reload');
      for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value);
      this.feed.add(res);
      return;
    }
    if (metrics) return void this.serveMetrics(metrics, req, res);
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': asset!.type,
      'content-length': asset!.body.length,
      ...(path === '/' ? { 'content-security-policy': PAGE_POLICY } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : asset!.body);
  }

  private async serveMetrics(metrics: RunMetrics, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = Buffer.from(await metrics.text());
      res.writeHead(200, { ...COMMON_HEADERS, 'content-type': METRICS_CONTENT_TYPE, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      this.options.log?.error({ reason: (err as Error).message }, 'the metrics could not be written');
      if (res.headersSent) res.destroy();
      else reply(res, 500, 'internal error');
    }
  }

  private authorised(req: IncomingMessage, query: URLSearchParams): boolean {
    const expected = this.options.token;
    if (expected === undefined) return true;
    const header = req.headers[TOKEN_HEADER];
    // Prometheus sends a token as `authorization: Bearer ...` (its scrape config's authorization.credentials)
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const given = typeof header === 'string' ? header : bearer ?? query.get('token');
    return given !== null && sameSecret(given, expected);
  }
}

/** A Host header naming this machine's loopback (127.x.x.x, localhost, [::1]), with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = /^(\[[^\]]*\]|[^:]*)(?::\d{1,5})?$/.exec(host.trim().toLowerCase())?.[1];
  if (name === undefined) return false;
  return isLoopback(name.startsWith('[') ? name.slice(1, -1) : name);
}

/** A short plain answer; refusals close the connection, so a body nobody reads is not kept coming. */
export function reply(res: ServerResponse, status: number, message: string): void {
  const close = status >= 400 ? { connection: 'close' } : {};
  res.writeHead(status, { ...COMMON_HEADERS, ...close, 'content-type': 'text/plain; charset=utf-8' }).end(message + '\n');
}
