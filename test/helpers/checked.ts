import type { Checked, Failure } from '@shardprop/protocol';

/** The message of a check that must pass (the test fails with the code and reason otherwise). */
export function accepted<T>(c: Checked<T>): T {
  if (!c.ok) throw new Error(`refused, ${c.code}: ${c.reason}`);
  return c.message;
}

/** The failure of a check that must fail. */
export function refused<T>(c: Checked<T>): Failure {
  if (c.ok) throw new Error('accepted, though it should have been refused');
  return c;
}
