import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '@shardprop/coordinator';
import { BIN } from '../helpers/cli.js';

describe('NODE_FLAGS, the V8 flags of every shardprop process', () => {
  it('are the ones the shardprop command starts node with (its shebang; pnpm and npm shims copy them)', () => {
    const shebang = readFileSync(BIN, 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    // and this node accepts them
    const r = spawnSync(process.execPath, [...NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});
