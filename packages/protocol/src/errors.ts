/**
 * Stable error codes: what a coordinator or worker tells apart when something a
 * peer sent, or the network, goes wrong. Each is listed in docs/errors.md with
 * what the user sees and what to do. A code never changes meaning; new ones are
 * added at the end of their group.
 */
export const ERROR_CODES = [
  // a message that is not what the protocol allows (the sender is dropped)
  'SP_ERR_TEXT_FRAME',
  'SP_ERR_UNDECODABLE',
  'SP_ERR_NOT_A_MAP',
  'SP_ERR_UNEXPECTED_TYPE',
  'SP_ERR_BAD_FIELD',
  'SP_ERR_WRONG_STEP',
  'SP_ERR_WRONG_ROUND',
  'SP_ERR_WRONG_COUNT',
  'SP_ERR_WRONG_ARRAY',
  'SP_ERR_NOT_FINITE',
  'SP_ERR_UNASKED',
  'SP_ERR_BAD_SHARD',
  'SP_ERR_BAD_SPEC',
  'SP_ERR_BEFORE_WELCOME',
  'SP_ERR_NO_DATA',
  'SP_ERR_TOO_LARGE',
  // a message that passed its checks and still could not be handled: a bug, or a resource limit
  'SP_ERR_UNEXPECTED',
  // not an offence: a gradient for an earlier sending of the step in flight, ignored
  'SP_ERR_STALE_ROUND',
  // who may join
  'SP_ERR_VERSION',
  'SP_ERR_FULL',
  'SP_ERR_DATA_MISMATCH',
  'SP_ERR_TOKEN_MISSING',
  'SP_ERR_TOKEN_WRONG',
  'SP_ERR_FOREIGN_ORIGIN',
  'SP_ERR_NOT_SLICED',
  // connections that stop behaving
  'SP_ERR_UPGRADE_TIMEOUT',
  'SP_ERR_TOO_MANY_CONNECTIONS',
  'SP_ERR_HELLO_TIMEOUT',
  'SP_ERR_TOO_MANY_PENDING',
  'SP_ERR_STEP_TIMEOUT',
  'SP_ERR_HEARTBEAT',
  'SP_ERR_UNREACHABLE',
  'SP_ERR_CONNECTION_CLOSED',
  'SP_ERR_COORDINATOR_SILENT',
  'SP_ERR_TLS_NAME',
  'SP_ERR_TLS_UNTRUSTED',
  'SP_ERR_NOT_TLS',
  'SP_ERR_NOT_COORDINATOR',
  'SP_ERR_TLS_EXPECTED',
  // the run
  'SP_ERR_WORKERS_LOST',
  'SP_ERR_STOPPED',
  'SP_ERR_DIVERGED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A check's answer: the value, or why not (a code and a one-line reason). Validation returns these; it never throws. */
export type Checked<T> = { ok: true; message: T } | Failure;

export interface Failure {
  ok: false;
  code: ErrorCode;
  reason: string;
}

export function failure(code: ErrorCode, reason: string): Failure {
  return { ok: false, code, reason };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
