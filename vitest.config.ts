import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

// Unit tests import the TypeScript sources; integration tests spawn the built CLI
// (`pnpm test` builds first).
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@shardprop\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@shardprop\/protocol$/, replacement: src('./packages/protocol/src/index.ts') },
      { find: /^@shardprop\/worker$/, replacement: src('./packages/worker/src/index.ts') },
      { find: /^@shardprop\/coordinator$/, replacement: src('./packages/coordinator/src/index.ts') },
      { find: /^@shardprop\/cli\/plot$/, replacement: src('./packages/cli/src/plot.ts') },
      { find: /^@shardprop\/cli$/, replacement: src('./packages/cli/src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
