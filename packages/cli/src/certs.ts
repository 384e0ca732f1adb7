/**
 * A self-signed TLS certificate for a coordinator, valid for the names and
 * addresses its workers will connect by (subjectAltName DNS and IP entries):
 * what `shardprop certs` writes. Not a CA: workers trust this one certificate
 * with --ca.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { UsageError } from '@shardprop/coordinator';

export interface CertificateFiles {
  cert: string;
  key: string;
  /** The subjectAltName entries, as written: DNS names and IP addresses. */
  hosts: string[];
  notAfter: Date;
}

/** A DNS name the certificate may hold: letters, digits, hyphens and dots (a leading `*.` for a wildcard). */
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Checks each --host: an IPv4 or IPv6 address, or a DNS name (not a URL, not HOST:PORT). */
export function validateCertificateHosts(hosts: string[]): void {
  if (hosts.length === 0) throw new UsageError('give --host once per name or address workers will connect by, e.g. --host 192.168.1.10 --host coordinator.lan');
  for (const host of hosts) {
    if (isIP(host) !== 0) continue;
    if (!DNS_NAME.test(host) || host.length > 253) {
      throw new UsageError(`--host must be an IP address or a host name (no scheme, no port), got "${host}"`);
    }
  }
}

/** Makes a key pair and a certificate for `hosts`, valid for `days`, and writes cert.pem and key.pem (mode 600) in `outDir` (replacing them only when asked). */
export async function writeCertificate(hosts: string[], outDir: string, days = 365, replace = false): Promise<CertificateFiles> {
  validateCertificateHosts(hosts);
  // a key in use is not lost by a second run: replacing it takes --force
  for (const file of ['cert.pem', 'key.pem'].map((f) => join(outDir, f))) {
    if (!replace && existsSync(file)) throw new UsageError(`${file} exists already: give --force to replace it (workers then need the new cert.pem), or another --out-dir`);
  }
  if (!(Number.isInteger(days) && days >= 1 && days <= 3650)) throw new UsageError(`--days must be a whole number from 1 to 3650, got ${days}`);
  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate.getTime() + days * 86_400_000);
  // loaded here, not with the CLI: it and its X.509 library take a tenth of a second to load, which every other command would pay
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: hosts[0] }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) !== 0 ? { type: 7, ip: h } : { type: 2, value: h })) },
    ],
  });
  mkdirSync(outDir, { recursive: true });
  const cert = join(outDir, 'cert.pem');
  const key = join(outDir, 'key.pem');
  writeFileSync(key, pems.private, { mode: 0o600 });
  chmodSync(key, 0o600); // a key.pem already there keeps its mode otherwise
  writeFileSync(cert, pems.cert);
  return { cert, key, hosts, notAfter: notAfterDate };
}
