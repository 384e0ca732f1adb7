import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
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
}

/** Listens on host:port, per-message deflate off; fails with a one-line reason. */
export function listenWebSocket(options: TransportOptions): Promise<Transport> {
  const { host, port, tls } = options;
  const common = { perMessageDeflate: false, maxPayload: options.maxPayload };
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    if (tls) {
      let https: HttpsServer;
      try {
        https = createHttpsServer({ cert: tls.cert, key: tls.key });
      } catch (err) {
        return reject(new Error(`cannot use the TLS certificate and key: ${(err as Error).message}`));
      }
      const wss = new WebSocketServer({ server: https, ...common });
      https.once('error', failed);
      https.listen(port, host, () => resolve({ wss, port: (https.address() as AddressInfo).port, scheme: 'wss', close: () => closeServers(wss, https) }));
      return;
    }
    const wss = new WebSocketServer({ host, port, ...common });
    wss.once('error', failed);
    wss.once('listening', () => resolve({ wss, port: (wss.address() as AddressInfo).port, scheme: 'ws', close: () => closeServers(wss) }));
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
