#!/usr/bin/env node
// The `shardprop` command. The TypeScript sources are compiled to dist/ on install (`prepare`).
import { main } from '../dist/cli.js';

main(process.argv.slice(2));
