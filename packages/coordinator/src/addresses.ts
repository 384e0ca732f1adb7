/** IP addresses as bytes, for the kernel's socket tables (dashboard/send-queue.ts) and certificates (certificate.ts). */
import { isIPv4, isIPv6 } from 'node:net';

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
