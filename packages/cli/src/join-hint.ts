/**
 * The worker command a coordinator prints when it starts: one that works as it
 * stands from another machine (given the same token and certificate files
 * there). A coordinator listening on every address (0.0.0.0, ::) names one of
 * this host's real addresses, preferring one its certificate holds.
 */
import { X509Certificate } from 'node:crypto';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export interface JoinHint {
  /** `npx shardprop worker --connect … [--token-file …] [--ca …]`. */
  command: string;
  /** The page that makes a browser tab a worker: http(s)://ADDRESS:PORT/join (the token goes in its fragment). */
  page: string;
  /** This host's other addresses workers may connect by (when listening on all of them). */
  alternatives: string[];
  /** Set when TLS is on and the certificate holds none of the addresses offered: what will fail and the fix. */
  warning?: string;
}

export interface JoinFiles {
  tokenFile?: string;
  /** The coordinator's --tls-cert: workers trust it with --ca. */
  cert?: { path: string; pem: Buffer };
}

/** The join command for a coordinator at `url` (as it listens: ws://0.0.0.0:7070, wss://[::]:7070, ws://10.0.0.5:7070). */
export function joinHint(url: string, files: JoinFiles, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): JoinHint {
  const listening = new URL(url);
  const host = listening.hostname.replace(/^\[(.*)\]$/, '$1');
  const everywhere = host === '0.0.0.0' || host === '::';
  let candidates = everywhere ? hostAddresses(interfaces, host === '::') : [host];
  if (candidates.length === 0) candidates = [host === '::' ? '::1' : '127.0.0.1'];
  const x509 = files.cert === undefined ? undefined : new X509Certificate(files.cert.pem);
  const held = x509 === undefined ? candidates : candidates.filter((a) => holds(x509, a));
  const chosen = held[0] ?? candidates[0];
  const address = chosen.includes(':') ? `[${chosen}]` : chosen;
  const parts = ['npx shardprop worker --connect', `${listening.protocol}//${address}:${listening.port}`];
  if (files.tokenFile !== undefined) parts.push('--token-file', files.tokenFile);
  if (files.cert !== undefined) parts.push('--ca', files.cert.path);
  const page = `${listening.protocol === 'wss:' ? 'https' : 'http'}://${address}:${listening.port}/join`;
  const hint: JoinHint = { command: parts.join(' '), page, alternatives: held.filter((a) => a !== chosen) };
  if (x509 !== undefined && held.length === 0) {
    hint.warning = `the certificate ${files.cert!.path} holds ${x509.subjectAltName ?? 'no names'} and none of this host's addresses (${candidates.join(', ')}): workers must connect by a name it holds, or make one with: npx shardprop certs --host ${chosen}`;
  }
  return hint;
}

/** This host's non-loopback addresses, IPv4 first; IPv6 (not link-local, which needs a zone) when listening on ::. */
function hostAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>, ipv6: boolean): string[] {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((i) => !i.internal);
  const v4 = all.filter((i) => i.family === 'IPv4').map((i) => i.address);
  const v6 = ipv6 ? all.filter((i) => i.family === 'IPv6' && !i.address.toLowerCase().startsWith('fe80')).map((i) => i.address) : [];
  return [...v4, ...v6];
}

function holds(x509: X509Certificate, address: string): boolean {
  return x509.checkIP(address) !== undefined || x509.checkHost(address) !== undefined;
}
