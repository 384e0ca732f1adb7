import { createHash, timingSafeEqual } from 'node:crypto';
import { PROTOCOL_VERSION, type Hello } from '@shardprop/worker/protocol';

/**
 * Who may join: the rules a hello is checked against, in order (token, protocol
 * version, room, data). The server turns a refusal into a 'refused' message with
 * its reason and closes the connection with its code.
 */

/** Workers at most (members and those joining). */
export const MAX_WORKERS = 256;

/** Connections that have not said a valid hello yet, at most; more are dropped at once. */
export const MAX_PENDING_CONNECTIONS = 64;

/** Equal secrets, in time that does not depend on where they differ (both are hashed to 32 bytes first). */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export interface AdmissionState {
  /** The secret workers must present, if any. */
  token?: string;
  /** Of the coordinator's training data. */
  fingerprint: string;
  training: boolean;
  /** Workers now (members and those joining). */
  workers: number;
  /** Workers to wait for before training starts. */
  expect: number;
}

export interface Refusal {
  reason: string;
  /** WebSocket close code and reason. */
  code: number;
  close: string;
}

/** Why this hello is refused, or null to admit it. A refusal never echoes a token. */
export function admissionRefusal(hello: Hello, state: AdmissionState): Refusal | null {
  if (state.token !== undefined && (hello.token === undefined || !sameSecret(hello.token, state.token))) {
    const reason = hello.token === undefined ? 'this coordinator needs a token (--token-file) and the worker gave none' : 'wrong token';
    return { reason, code: 1008, close: 'not authorised' };
  }
  if (hello.version !== PROTOCOL_VERSION) {
    return { reason: `protocol version mismatch: the worker speaks version ${hello.version}, this coordinator speaks version ${PROTOCOL_VERSION}`, code: 1002, close: 'protocol version mismatch' };
  }
  if (state.training ? state.workers >= MAX_WORKERS : state.workers >= state.expect) {
    return { reason: state.training ? `training already has ${MAX_WORKERS} workers` : 'the coordinator already has all the workers it waits for', code: 1008, close: 'not expected' };
  }
  if (hello.fingerprint !== undefined && hello.fingerprint !== state.fingerprint) {
    const reason = `the worker's data set is not the coordinator's (fingerprint ${hello.fingerprint} on the worker, ${state.fingerprint} here): give the worker the same --data and data flags, or none to receive its shard`;
    return { reason, code: 1008, close: 'different data' };
  }
  return null;
}
