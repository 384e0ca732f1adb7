import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { OFFER_HEADER, TOKEN_HEADER, TOKEN_PROTOCOL, WS_PROTOCOL } from './messages.js';
import type { ErrorCode } from './errors.js';
import { WebSocketServer } from 'ws';
import { ConnectionGuard, UPGRADE_TIMEOUT_MS, socketBounds, type FloodReport, type SocketBounds } from './connection-guard.js';

/** Connections the kernel may hold before they are accepted (Node's default is 511). */
const LISTEN_BACKLOG = 4096;

/** A listening WebSocket server, plain (ws://) or over TLS (wss://). */
export interface Transport {
  wss: WebSocketServer;
  /** The port it listens on (the chosen one when asked for port 0). */
  port: number;
  scheme: 'ws' | 'wss';
  /** Stops listening; cuts off every client first. */
  close(): Promise<void>;
}

export interface TransportOptions {
  host: string;
  port: number;
  /** Largest message accepted, in bytes. */
  maxPayload: number;
  /** PEM certificate and key: serve wss://. */
  tls?: { cert: Buffer; key: Buffer };
  /**
   * When set, the WebSocket upgrade itself must carry this secret in the
   * TOKEN_HEADER header: a stranger is answered 401 before it can send a single
   * message (so before it can make the server buffer one).
   */
  verifyToken?: string;
  /** A refused upgrade, for the log (never with the token). */
  onUnauthorised?(address: string, code: ErrorCode, reason: string): void;
  /** Errors of the listening server after it started (e.g. EMFILE on accept): reported, never thrown. */
  onError(err: Error): void;
  /** Plain HTTP requests on the same port (the dashboard); without it they are answered 426 Upgrade Required. */
  onRequest?(req: IncomingMessage, res: ServerResponse): void;
  /** Open sockets at most (default: from the process's file limit, see connection-guard.ts). */
  bounds?: SocketBounds;
  /** Time from connecting to a request or upgrade, in ms (5 s). */
  upgradeTimeoutMs?: number;
  /** Connections closed by those bounds: a line at a time, with counts. */
  onFlood?: FloodReport;
}

/** Listens on host:port, per-message deflate off; fails with a one-line reason. */
export function listenWebSocket(options: TransportOptions): Promise<Transport> {
  const { host, port, tls } = options;
  const { verifyToken } = options;
  const common = {
    perMessageDeflate: false,
    maxPayload: options.maxPayload,
    // decided at the upgrade, before a single message can be buffered
    verifyClient: ({ req }: { req: IncomingMessage }, done: (ok: boolean, status?: number) => void): void => {
      const admitted = admission(req, verifyToken);
      if (admitted.ok) return done(true);
      options.onUnauthorised?.(`${req.socket.remoteAddress}:${req.socket.remotePort}`, admitted.code, admitted.reason);
      done(false, admitted.status);
    },
    // a browser offers WS_PROTOCOL (beside its token) and drops a connection that selects none
    handleProtocols: (offered: Set<string>) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  };
  return new Promise((resolve, reject) => {
    let listening = false;
    const failed = (err: Error) => {
      if (listening) options.onError(err);
      else reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    };
    // our own HTTP(S) server, so that plain requests on the port can be answered (onRequest)
    let server: HttpServer | HttpsServer;
    try {
      server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer();
    } catch (err) {
      return reject(new Error(`cannot use the TLS certificate and key: ${(err as Error).message}`));
    }
    // every socket is bounded from its first moment, before a byte of it is read
    const guard = new ConnectionGuard(options.bounds ?? socketBounds(), options.onFlood ?? (() => {}), options.upgradeTimeoutMs ?? UPGRADE_TIMEOUT_MS);
    server.on('connection', (socket: Socket) => guard.admit(socket));
    server.on('request', (req: IncomingMessage) => guard.engaged(req.socket));
    server.on('upgrade', (req: IncomingMessage) => guard.engaged(req.socket));
    server.on('request', options.onRequest ?? upgradeRequired);
    const wss = new WebSocketServer({ server, ...common });
    // ws forwards the server's errors to wss: both must have a listener, for good
    server.on('error', failed);
    wss.on('error', failed);
    // a long accept queue (the kernel caps it at net.core.somaxconn): under a flood of connections a
    // worker's handshake waits in it for the guard to make room, instead of being dropped and retried seconds later
    server.listen(port, host, LISTEN_BACKLOG, () => {
      listening = true;
      resolve({ wss, port: (server.address() as AddressInfo).port, scheme: tls ? 'wss' : 'ws', close: () => closeServers(wss, server, guard) });
    });
  });
}

/** Whether an upgrade (or a browser's question about one, `browser` true) may join, and if not the HTTP status, code and reason. */
export type Admission = { ok: true } | { ok: false; status: 401 | 403; code: ErrorCode; reason: string };

/**
 * The rules of the upgrade. A browser (it sends an Origin) joins only from a page this server
 * served, and without a token only by an IP address or localhost: a DNS name may have been
 * pointed at this coordinator by a foreign page (DNS rebinding), which would then be same-origin.
 * With a token, the token decides (TOKEN_HEADER, or TOKEN_PROTOCOL from a browser).
 */
export function admission(req: IncomingMessage, verifyToken: string | undefined, browser = req.headers.origin !== undefined): Admission {
  if (!sameOrigin(req)) return { ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN', reason: `a page of another site (Origin ${oneHeader(req.headers.origin)} is not this coordinator's)` };
  if (verifyToken === undefined) {
    if (browser && !addressHost(req.headers.host)) {
      return { ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN', reason: 'without a token a browser joins only by an IP address or localhost: open the link the coordinator printed, or give the coordinator --token-file' };
    }
    return { ok: true };
  }
  const given = tokenOf(req);
  if (given !== undefined && sameSecret(given, verifyToken)) return { ok: true };
  if (given === undefined) return { ok: false, status: 401, code: 'SP_ERR_TOKEN_MISSING', reason: 'this coordinator needs a token (--token-file) and the worker gave none' };
  return { ok: false, status: 401, code: 'SP_ERR_TOKEN_WRONG', reason: 'wrong token' };
}

/** A Host header naming an IP address or localhost (with or without a port): nothing DNS could repoint. */
function addressHost(host: string | undefined): boolean {
  const name = /^(\[[^\]]*\]|[^:]*)(?::\d{1,5})?$/.exec((host ?? '').trim().toLowerCase())?.[1];
  if (!name) return false;
  return name === 'localhost' || name.startsWith('[') || isIP(name) !== 0;
}

/** The token of an upgrade: the TOKEN_HEADER header (Node workers), else the TOKEN_PROTOCOL subprotocol a browser offers. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers[TOKEN_HEADER];
  if (typeof header === 'string') return header;
  // a page's own question (/join/check: fetch cannot set Sec- headers) offers the same list in OFFER_HEADER
  const offered = `${oneHeader(req.headers['sec-websocket-protocol'])},${oneHeader(req.headers[OFFER_HEADER])}`;
  for (const protocol of offered.split(',')) {
    const value = protocol.trim();
    if (value.startsWith(TOKEN_PROTOCOL)) return Buffer.from(value.slice(TOKEN_PROTOCOL.length), 'base64url').toString('utf8');
  }
  return undefined;
}

/**
 * A request without an Origin (Node workers, curl), or from a page this server served: the
 * Origin is this server's scheme and the Host the request was sent to (default ports alike). Browsers set both and scripts
 * cannot change them, so a page of another site cannot join through a visitor's browser.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  // the whole origin, scheme included: an http page of the same address must not reach a TLS coordinator
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  try {
    return req.headers.host !== undefined && new URL(origin).origin === new URL(`${scheme}://${req.headers.host}`).origin;
  } catch {
    return false;
  }
}

function oneHeader(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

/** What ws's own server answers a request that is not a WebSocket upgrade. */
export function upgradeRequired(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { 'content-type': 'text/plain' }).end(STATUS_CODES[426]);
}

async function closeServers(wss: WebSocketServer, server: HttpServer | HttpsServer, guard: ConnectionGuard): Promise<void> {
  guard.close();
  for (const client of wss.clients) client.terminate();
  await new Promise<void>((done) => wss.close(() => done()));
  const closed = new Promise<void>((done) => server.close(() => done()));
  server.closeAllConnections();
  await closed;
}

/** Equal secrets, in time that does not depend on where they differ (both are hashed to 32 bytes first). */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
