/**
 * Why a connection to the coordinator failed, in one line that says what to do:
 * the mistakes retrying cannot mend (a certificate for other names, an untrusted
 * certificate, ws:// to a TLS coordinator and wss:// to a plain one) are final;
 * the rest (nothing listening yet, a network that is down) are retried.
 */
import { connect as tlsConnect } from 'node:tls';
import type { WorkerExit } from './session.js';

/** OpenSSL's verdicts on a certificate chain no trusted certificate vouches for. */
const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT']);
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
/** The retried failures, worth a word on what is likely wrong. */
const NOT_THERE: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there (is the coordinator up yet, on this address and --port?)',
  ENOTFOUND: 'the host name does not resolve (a typo, or a name this machine\'s DNS does not know?)',
  EAI_AGAIN: 'the host name does not resolve yet (DNS unreachable?)',
  EHOSTUNREACH: 'no route to that host (wrong address, or its network is down?)',
  ENETUNREACH: 'no route to that network (wrong address?)',
  ETIMEDOUT: 'no answer (wrong address, or a firewall dropping the port?)',
};

type Failed = Exclude<WorkerExit, { reason: 'done' }>;

/**
 * The exit for `err`, raised by the WebSocket to `url` before it opened. `hasCa`:
 * the worker was given --ca. Asynchronous because a plain connection that the
 * other end hung up on is checked by trying TLS on the same port.
 */
export async function explainConnectError(err: Error & { code?: string; cert?: { subjectaltname?: string } }, url: URL, hasCa: boolean): Promise<Failed> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const code = err.code ?? '';
  const at = `the coordinator at ${url.origin}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = (err.cert?.subjectaltname ?? '').replace(/IP Address:/g, '').replace(/DNS:/g, '') || 'no names';
    const message = `${at} has a certificate that is not valid for "${host}" (it holds: ${names}): connect by one of those, or make a certificate for this address on the coordinator with "shardprop certs --host ${host}" and restart it with it`;
    return { reason: 'refused', message, code: 'SP_ERR_TLS_NAME' };
  }
  if (UNTRUSTED.has(code)) {
    const message = hasCa
      ? `${at} has a certificate that --ca does not vouch for (${err.message}): give --ca the coordinator's current cert.pem`
      : `${at} has a certificate this machine does not trust (${err.message}): give the worker the coordinator's certificate with --ca cert.pem`;
    return { reason: 'refused', message, code: 'SP_ERR_TLS_UNTRUSTED' };
  }
  if (OUT_OF_DATE.has(code)) {
    const message = `${at} has a certificate that is out of date (${err.message}): make a new one with "shardprop certs --host ${host}" (and check both clocks)`;
    return { reason: 'refused', message, code: 'SP_ERR_TLS_UNTRUSTED' };
  }
  if (url.protocol === 'wss:' && /wrong version number|packet length too long|unknown protocol|http request/i.test(`${code} ${err.message}`)) {
    const message = `${at} does not speak TLS (${err.message}): connect with ws://${url.host}, or start the coordinator with --tls-cert and --tls-key`;
    return { reason: 'refused', message, code: 'SP_ERR_NOT_TLS' };
  }
  if (url.protocol === 'ws:' && code === 'ECONNRESET' && (await speaksTls(host, Number(url.port || 80)))) {
    const message = `${at} serves TLS and hung up on a plain connection: connect with wss://${url.host} (and --ca cert.pem for a self-signed certificate)`;
    return { reason: 'refused', message, code: 'SP_ERR_TLS_EXPECTED' };
  }
  const why = NOT_THERE[code];
  const message = why === undefined
    ? `cannot reach ${at}: ${err.message}`
    : `cannot reach ${at}: ${why} [${code}]`;
  return { reason: 'error', message, code: 'SP_ERR_UNREACHABLE' };
}

/** Does the server at host:port answer a TLS handshake? (Only asked after it hung up on plain HTTP.) */
function speaksTls(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, servername: undefined, timeout: 5000 });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
