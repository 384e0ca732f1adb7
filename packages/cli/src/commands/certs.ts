/**
 * `shardprop certs`: a self-signed certificate and key for a TLS coordinator,
 * valid for the names and addresses workers connect by, and the flags to use them.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { UsageError, checkHosts, selfSignedCertificate } from '@shardprop/coordinator';
import { num, str } from '../flags.js';

export const certsCommand: CommandModule = {
  command: 'certs',
  describe: 'make a self-signed TLS certificate and key for a coordinator, valid for the names and IPs workers connect by',
  builder: (y) =>
    y
      .option('host', { type: 'string', array: true, demandOption: true, describe: 'a host name or IP address workers will connect by (repeat for each)' })
      .option('out-dir', { type: 'string', default: '.', describe: 'where to write cert.pem and key.pem' })
      .option('days', { type: 'number', default: 365, describe: 'days the certificate is valid' })
      .option('force', { type: 'boolean', default: false, describe: 'replace cert.pem and key.pem if they exist' })
      .example('$0 certs --host 10.0.0.5 --host trainer.lan', 'cert.pem and key.pem here, for that address and name')
      .example('$0 certs --host 192.168.1.20 --out-dir tls --days 30', 'in tls/, valid for 30 days'),
  handler(args) {
    const hosts = [args.host].flat().map(String);
    const refused = checkHosts(hosts);
    if (refused) throw new UsageError(refused);
    const days = num(args, 'days') as number;
    if (!(Number.isInteger(days) && days >= 1 && days <= 3650)) throw new UsageError(`--days must be a whole number from 1 to 3650, got ${days}`);
    const dir = str(args, 'out-dir') as string;
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    for (const path of [certPath, keyPath]) {
      if (existsSync(path) && args.force !== true) throw new UsageError(`${path} exists already: give --force to replace it, or another --out-dir`);
    }
    const { cert, key } = selfSignedCertificate(hosts, days);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(certPath, cert);
      writeFileSync(keyPath, key, { mode: 0o600 });
    } catch (err) {
      throw new UsageError(`cannot write the certificate in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    process.stdout.write(
      `wrote ${certPath} and ${keyPath} (valid ${days} days for ${hosts.join(', ')})\n` +
        `  coordinator: --tls-cert ${certPath} --tls-key ${keyPath}\n` +
        `  each worker: --connect wss://${hosts[0].includes(':') ? `[${hosts[0]}]` : hosts[0]}:PORT --ca cert.pem   (copy ${certPath} to it; never the key)\n`,
    );
  },
};
