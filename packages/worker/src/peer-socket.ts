/**
 * A WebSocket from this process to a shardprop peer (a worker's to its coordinator and to
 * the slice servers, a slice server's to its coordinator): no per-message deflate, the token
 * with the upgrade, messages as the fragments they arrived in, and a zero mask.
 */
import { WebSocket } from 'ws';
import { TOKEN_HEADER } from '@shardprop/protocol';

export interface PeerSocketOptions {
  /** The peer's shared secret, if it wants one: a peer with a token lets no one in without it. */
  token?: string;
  /** PEM certificate(s) to trust for wss://. */
  ca?: Buffer;
  /** Largest message taken, in bytes. */
  maxPayload: number;
  /** Time the opening handshake may take, in ms (ws's default: none). */
  handshakeTimeout?: number;
}

export function peerSocket(url: string, options: PeerSocketOptions): WebSocket {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: options.maxPayload,
    generateMask: zeroMask,
    ca: options.ca,
    handshakeTimeout: options.handshakeTimeout,
    headers: options.token === undefined ? undefined : { [TOKEN_HEADER]: options.token },
  });
  // a step's parameters, a gradient's values: copied from the fragments into place, not assembled first
  ws.binaryType = 'fragments';
  return ws;
}

/**
 * Frames from a client are masked (RFC 6455) to keep browsers from poisoning
 * proxy caches; between shardprop's processes there is no browser and no
 * proxy, and a zero mask lets ws skip masking (a copy and an XOR of every byte)
 * on both ends.
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}
