import { ip, removeNamespaces } from '../../scripts/simulated-cluster.mjs';

/**
 * Network namespaces for the tests that play several hosts on this machine (as
 * root): `ip` run quietly (its error text kept for the reason; the simulated
 * cluster's), the reason a topology could not be made, and their removal by name.
 */
export { ip, removeNamespaces };

/** Runs `make` (which calls ip()); null when it worked, else why not (not root, or ip's own words). */
export function makeNamespaces(make: () => void): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    make();
    return null;
  } catch (err) {
    return `cannot make network namespaces here: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`;
  }
}
