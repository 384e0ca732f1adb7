import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TOKEN_HEADER } from '@shardprop/worker/protocol';
import { WebSocketServer } from 'ws';

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
  onUnauthorised?(address: string, reason: string): void;
  /** Errors of the listening server after it started (e.g. EMFILE on accept): reported, never thrown. */
  onError(err: Error): void;
}



/** Listens on host:port, per-message deflate off; fails with a one-line reason. */
export function listenWebSocket(options: TransportOptions): Promise<Transport> {
  const { host, port, tls } = options;
  const { verifyToken } = options;
  const common = {
    perMessageDeflate: false,
    maxPayload: options.maxPayload,
    verifyClient:
      verifyToken === undefined
        ? undefined
        : ({ req }: { req: IncomingMessage }) => {
            const given = req.headers[TOKEN_HEADER];
            if (typeof given === 'string' && sameSecret(given, verifyToken)) return true;
            const reason = given === undefined ? 'this coordinator needs a token (--token-file) and the worker gave none' : 'wrong token';
            options.onUnauthorised?.(`${req.socket.remoteAddress}:${req.socket.remotePort}`, reason);
            return false;
          },
  };
  return new Promise((resolve, reject) => {
    let listening = false;
    const failed = (err: Error) => {
      if (listening) options.onError(err);
      else reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    };
    if (tls) {
      let https: HttpsServer;
      try {
        https = createHttpsServer({ cert: tls.cert, key: tls.key });
      } catch (err) {
        return reject(new Error(`cannot use the TLS certificate and key: ${(err as Error).message}`));
      }
      const wss = new WebSocketServer({ server: https, ...common });
      // ws forwards the https server's errors to wss: both must have a listener, for good
      https.on('error', failed);
      wss.on('error', failed);
      https.listen(port, host, () => {
        listening = true;
        resolve({ wss, port: (https.address() as AddressInfo).port, scheme: 'wss', close: () => closeServers(wss, https) });
      });
      return;
    }
    const wss = new WebSocketServer({ host, port, ...common });
    wss.on('error', failed);
    wss.once('listening', () => {
      listening = true;
      resolve({ wss, port: (wss.address() as AddressInfo).port, scheme: 'ws', close: () => closeServers(wss) });
    });
  });
}

async function closeServers(wss: WebSocketServer, https?: HttpsServer): Promise<void> {
  for (const client of wss.clients) client.terminate();
  await new Promise<void>((done) => wss.close(() => done()));
  if (!https) return;
  const closed = new Promise<void>((done) => https.close(() => done()));
  https.closeAllConnections();
  await closed;
}

/** Equal secrets, in time that does not depend on where they differ (both are hashed to 32 bytes first). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}
