/**
 * `shardprop certs`: writes a self-signed certificate and key for a coordinator,
 * valid for the names and addresses workers connect by, and prints the flags
 * that use them. The certificate is made by certs.ts.
 */
import type { CommandModule } from 'yargs';
import { isIP } from 'node:net';
import { writeCertificate } from '../certs.js';
import { num, str, type Args } from '../flags.js';

export const certsCommand: CommandModule = {
  command: 'certs',
  describe: 'make a self-signed TLS certificate for a coordinator, valid for the names and IPs workers use',
  builder: (y) =>
    y
      .option('host', { type: 'string', array: true, demandOption: true, describe: 'a host name or IP address workers will connect by (repeat for each)' })
      .option('out-dir', { type: 'string', default: '.', describe: 'directory to write cert.pem and key.pem to' })
      .option('days', { type: 'number', default: 365, describe: 'days the certificate is valid' })
      .option('force', { type: 'boolean', default: false, describe: 'replace cert.pem and key.pem if they exist' })
      .example('$0 certs --host 192.168.1.10 --host coordinator.lan --out-dir tls', 'tls/cert.pem and tls/key.pem for that address and name')
      .example('$0 certs --host 10.0.0.5 --days 30 --force', 'a new one here, valid 30 days, replacing the old'),
  handler: (args) => makeCerts(args),
};

async function makeCerts(args: Args): Promise<void> {
  const hosts = (args.host as unknown[]).map(String);
  const written = await writeCertificate(hosts, str(args, 'out-dir') ?? '.', num(args, 'days'), args.force === true);
  const first = isIP(hosts[0]) === 6 ? `[${hosts[0]}]` : hosts[0];
  process.stdout.write(
    `wrote ${written.cert} (certificate for ${hosts.join(', ')}, valid until ${written.notAfter.toISOString().slice(0, 10)})\n` +
      `wrote ${written.key} (private key: keep it on the coordinator's machine only)\n` +
      `coordinator flags: --tls-cert ${written.cert} --tls-key ${written.key}\n` +
      `worker flags:      --connect wss://${first}:PORT --ca ${written.cert}   (copy ${written.cert} to each worker machine; connect by one of: ${hosts.join(', ')})\n`,
  );
}
