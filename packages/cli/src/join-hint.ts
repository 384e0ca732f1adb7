/**
 * The worker command a coordinator prints at start: complete, and working from
 * another machine. Listening on every address (0.0.0.0, ::), it names a real
 * address of this host (one its TLS certificate is valid for, when it has one),
 * and it carries the token file and the certificate to trust.
 */
import { X509Certificate } from 'node:crypto';
import { networkInterfaces } from 'node:os';

export interface JoinHint {
  /** The command to run on a worker machine. */
  command: string;
  /** Other addresses of this host workers could use. */
  otherAddresses: string[];
  /** Why workers could still be refused (a certificate that names no address of this host), or null. */
  warning: string | null;
}

const ANY = new Set(['0.0.0.0', '::', '[::]']);

export function joinHint(url: string, listenHost: string, tokenFile: string | undefined, tlsCert: { path: string; pem: Buffer } | undefined): JoinHint {
  const u = new URL(url);
  const cert = tlsCert ? new X509Certificate(tlsCert.pem) : undefined;
  const valid = (host: string): boolean => !cert || (/^[\d.]+$|:/.test(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined);
  let hosts = ANY.has(listenHost) ? hostAddresses() : [listenHost];
  if (hosts.length === 0) hosts = ['127.0.0.1'];
  const chosen = hosts.find(valid) ?? hosts[0];
  const shown = chosen.includes(':') ? `[${chosen}]` : chosen;
  const flags = [`--connect ${u.protocol}//${shown}:${u.port}`];
  if (tokenFile !== undefined) flags.push(`--token-file ${tokenFile}`);
  if (tlsCert) flags.push(`--ca ${tlsCert.path}`);
  const warning = valid(chosen) ? null : `the certificate ${tlsCert!.path} is not valid for ${chosen}: workers connecting by it will be refused; make one that is with: npx shardprop certs --host ${chosen}`;
  return { command: `npx shardprop worker ${flags.join(' ')}`, otherAddresses: hosts.filter((h) => h !== chosen), warning };
}

/** This host's addresses other machines can reach: IPv4 first, then global IPv6 (no loopback, no link-local). */
function hostAddresses(): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') v4.push(a.address);
      else if (!a.address.toLowerCase().startsWith('fe80')) v6.push(a.address);
    }
  }
  return [...v4, ...v6];
}
