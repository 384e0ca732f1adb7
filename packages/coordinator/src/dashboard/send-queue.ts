/**
 * What a viewer has taken of what the feed wrote: everything but what Node still
 * holds (writableLength) and what the kernel holds unacknowledged by the peer.
 * The kernel's share is the tx_queue column of /proc/net/tcp and /proc/net/tcp6
 * (Linux); without those files it counts as 0, and only Node's buffer is seen.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';

/** The peer side of a socket, as Node gives it. */
export interface SocketEnds {
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
}

/** Bytes sent and not yet acknowledged, by socket; 0 for a socket the system does not list. */
export type SendQueues = (socket: SocketEnds | undefined | null) => number;

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];

/** Reads the kernel's send queues once: a lookup for this moment. */
export function readSendQueues(tables = TABLES): SendQueues {
  const queues = new Map<string, number>();
  for (const table of tables) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue; // not Linux, or no IPv6
    }
    // "  sl  local_address rem_address   st tx_queue:rx_queue ..." (addresses and numbers in hex)
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || !f[0].endsWith(':') || f[0] === 'sl') continue;
      const [, localPort] = f[1].split(':');
      const [remHex, remPort] = f[2].split(':');
      const remote = procAddress(remHex);
      if (!remote || localPort === undefined || remPort === undefined) continue;
      const key = `${parseInt(localPort, 16)}/${remote}/${parseInt(remPort, 16)}`;
      const tx = parseInt(f[4].split(':')[0], 16);
      // the same ends can be listed twice (an old connection in TIME_WAIT): the larger queue is the live one's
      if (Number.isFinite(tx)) queues.set(key, Math.max(tx, queues.get(key) ?? 0));
    }
  }
  return (socket) => {
    if (!socket || socket.localPort === undefined || socket.remotePort === undefined || socket.remoteAddress === undefined) return 0;
    const remote = addressHex(socket.remoteAddress);
    return remote === null ? 0 : queues.get(`${socket.localPort}/${remote}/${socket.remotePort}`) ?? 0;
  };
}

/**
 * An address as /proc lists it (IPv4: 4 bytes, IPv6: four 32-bit words, each in the
 * machine's byte order, which is little-endian on every machine Node runs on
 * here) turned into the 16 bytes of its IPv6 form, in hex.
 */
export function procAddress(hex: string): string | null {
  if (hex.length !== 8 && hex.length !== 32) return null;
  const bytes = Buffer.alloc(16);
  const words = hex.length / 8;
  for (let w = 0; w < words; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 0; b < 4; b++) bytes[16 - words * 4 + w * 4 + b] = parseInt(word.slice(6 - 2 * b, 8 - 2 * b), 16);
  }
  if (words === 1) bytes.writeUInt16BE(0xffff, 10); // IPv4: as ::ffff:a.b.c.d
  return bytes.toString('hex');
}

/** An address as Node gives it (IPv4, IPv6, IPv4-mapped IPv6, with or without a zone) as the 16 bytes of its IPv6 form, in hex. */
export function addressHex(address: string): string | null {
  const plain = address.replace(/%.*$/, '');
  if (isIPv4(plain)) return addressHex(`::ffff:${plain}`);
  if (!isIPv6(plain)) return null;
  const bytes = Buffer.alloc(16);
  // a dotted IPv4 tail is two groups
  let text = plain;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail[1].split('.').map(Number);
    text = text.slice(0, -tail[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return null;
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), i * 2));
  return bytes.toString('hex');
}
