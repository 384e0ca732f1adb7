/**
 * Why a worker could not reach its coordinator, in one line that says what to
 * do, and whether trying again can help. A coordinator that is not up yet (the
 * connection is refused, the host does not answer) is worth waiting for; a
 * certificate that names another host, an untrusted certificate, ws:// to a
 * TLS port and wss:// to a plain one, or a web server that is not a
 * coordinator are not: the worker stops at once instead of retrying them.
 */
import { connect as tlsConnect } from 'node:tls';
import type { ErrorCode } from '@shardprop/protocol';
import type { WorkerExit } from './session.js';

/** How long the probe "is this port TLS?" may take. */
const PROBE_MS = 3000;

/** openssl's codes for a certificate chain that does not end in a trusted one. */
const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE']);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
/** Errors a coordinator that is starting or restarting gives: try again. */
const TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

interface ConnectError extends Error {
  code?: string;
  host?: string;
  cert?: { subjectaltname?: string };
}

const fatal = (code: ErrorCode, message: string): WorkerExit => ({ reason: 'refused', code, message });
const retry = (message: string): WorkerExit => ({ reason: 'error', code: 'SP_ERR_UNREACHABLE', message });

/** The worker's answer to a connection that failed before the WebSocket opened. */
export async function connectFailure(err: ConnectError, url: string, ca: string | undefined): Promise<WorkerExit> {
  const target = new URL(url);
  const tls = target.protocol === 'wss:';
  const hostPort = `${target.hostname}:${target.port || (tls ? 443 : 80)}`;
  const code = err.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = err.cert?.subjectaltname ? err.cert.subjectaltname : 'none';
    return fatal('SP_ERR_TLS_NAME', `the coordinator's certificate is not valid for ${target.hostname} (it names ${names}): connect with a name it holds, or make a certificate for this address on the coordinator's machine with: shardprop certs --host ${target.hostname}`);
  }
  if (UNTRUSTED.has(code)) {
    return ca === undefined
      ? fatal('SP_ERR_TLS_UNTRUSTED', `the coordinator's certificate is not signed by anyone this worker trusts (${err.message}): give the worker a copy of it with --ca cert.pem (the coordinator's --tls-cert)`)
      : fatal('SP_ERR_TLS_UNTRUSTED', `the coordinator's certificate is not the one given with --ca (${err.message}): give --ca the certificate the coordinator serves (its --tls-cert)`);
  }
  if (EXPIRED.has(code)) return fatal('SP_ERR_TLS_UNTRUSTED', `the coordinator's certificate is out of date (${err.message}): make a new one with shardprop certs`);
  if (code === 'EPROTO' || /wrong version number|packet length too long|http request/i.test(err.message)) {
    return fatal('SP_ERR_NOT_TLS', `the coordinator at ${hostPort} does not speak TLS: connect with ws://${hostPort} (or start the coordinator with --tls-cert and --tls-key)`);
  }
  if (code === 'ENOTFOUND') return fatal('SP_ERR_UNKNOWN_HOST', `no host is called ${target.hostname} (the name does not resolve): check the address in --connect`);
  // ws:// to a TLS port: the server hangs up on the plain request; find out whether TLS answers there
  if (!tls && (code === 'ECONNRESET' || err.message === 'socket hang up') && (await speaksTls(target.hostname, Number(target.port || 80)))) {
    return fatal('SP_ERR_TLS_EXPECTED', `the coordinator at ${hostPort} speaks TLS: connect with wss://${hostPort} (and --ca cert.pem when its certificate is self-signed)`);
  }
  if (code === 'ECONNREFUSED') return retry(`nothing listens at ${hostPort} (connection refused): the coordinator is not up yet, or the address or port is wrong`);
  if (TRANSIENT.has(code) || /timed out/i.test(err.message)) return retry(`cannot reach the coordinator at ${url}: ${err.message}`);
  return retry(`cannot reach the coordinator at ${url}: ${err.message}`);
}

/** An HTTP answer where a WebSocket upgrade was expected: 401 is the token; anything else is not a coordinator. */
export function unexpectedResponse(status: number, url: string, token: string | undefined): WorkerExit {
  if (status === 401) {
    return token === undefined
      ? fatal('SP_ERR_TOKEN_MISSING', 'the coordinator refused us: this coordinator needs a token (--token-file) and the worker gave none')
      : fatal('SP_ERR_TOKEN_WRONG', 'the coordinator refused us: wrong token');
  }
  // a coordinator that is closing or overloaded may answer 503: worth another try
  if (status === 503) return retry(`the coordinator at ${url} answered HTTP 503 (busy or closing)`);
  return fatal('SP_ERR_NOT_COORDINATOR', `something that is not a shardprop coordinator answers at ${url} (HTTP ${status} instead of a WebSocket): check the address and port in --connect`);
}

/** Whether a TLS handshake succeeds at host:port (any certificate: only the protocol is asked). */
function speaksTls(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, servername: /^[\d.:]+$/.test(host) ? undefined : host, timeout: PROBE_MS });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
