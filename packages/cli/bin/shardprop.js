#!/usr/bin/env -S node --initial-old-space-size=64
// The `shardprop` command. The TypeScript sources are compiled to dist/ on install (`prepare`).
// The shebang's V8 flags are NODE_FLAGS (packages/coordinator/src/local-workers.ts): why, there.
import { main } from '../dist/main.js';

main(process.argv.slice(2));
