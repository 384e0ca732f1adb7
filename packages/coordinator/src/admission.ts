/**
 * Who may join: the rules a hello is checked against, in order (protocol
 * version, room, data); the token was checked at the WebSocket upgrade
 * (transport.ts). The step machine turns a refusal into a 'refused' message with
 * its reason and code, and the connection is closed with its WebSocket close code.
 */
import { PROTOCOL_VERSION, type ErrorCode, type Hello } from '@shardprop/protocol';

/** Workers at most (members and those joining). */
export const MAX_WORKERS = 256;

/** Connections that have not said a valid hello yet, at most; a newcomer beyond them replaces the oldest. */
export const MAX_PENDING_CONNECTIONS = 64;
/** Of them, from one host at most: a flood from one machine cannot hold every place. */
export const MAX_PENDING_PER_HOST = 16;

export interface AdmissionState {
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
  code: ErrorCode;
  /** WebSocket close code and reason. */
  closeCode: number;
  close: string;
}

/** Why this hello is refused, or null to admit it. */
export function admissionRefusal(hello: Hello, state: AdmissionState): Refusal | null {
  if (hello.version !== PROTOCOL_VERSION) {
    const reason = `protocol version mismatch: the worker speaks version ${hello.version}, this coordinator speaks version ${PROTOCOL_VERSION}: run the same shardprop release on both machines`;
    return { reason, code: 'SP_ERR_VERSION', closeCode: 1002, close: 'protocol version mismatch' };
  }
  if (state.training ? state.workers >= MAX_WORKERS : state.workers >= state.expect) {
    const reason = state.training ? `training already has ${MAX_WORKERS} workers` : 'the coordinator already has all the workers it waits for';
    return { reason, code: 'SP_ERR_FULL', closeCode: 1008, close: 'not expected' };
  }
  if (hello.fingerprint !== undefined && hello.fingerprint !== state.fingerprint) {
    const reason = `the worker's data set is not the coordinator's (fingerprint ${hello.fingerprint} on the worker, ${state.fingerprint} here): give the worker the same --data and data flags, or none to receive its shard`;
    return { reason, code: 'SP_ERR_DATA_MISMATCH', closeCode: 1008, close: 'different data' };
  }
  return null;
}
