/**
 * What a run keeps on disk while it trains and when it ends: its checkpoints
 * (never one of non-finite parameters, so the last good one survives a diverging
 * run; a failed write leaves the one before intact and says so), and its model,
 * with a way out when the disk cannot take it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointPath, saveCheckpoint, saveModel, type Kernels, type Model, type Optimizer, type Sampler } from '@shardprop/core';
import { OutputError } from './outputs.js';
import type { TrainingPlan } from './plan.js';

export class Keeper {
  /** The newest checkpoint on disk: this run's, or the one it resumed from. */
  private last: { step: number; path: string } | undefined;

  constructor(
    private readonly plan: TrainingPlan,
    private readonly model: Model,
    private readonly optimizer: Optimizer,
    private readonly sampler: Sampler,
    private readonly kernels: Kernels,
    private readonly onCheckpoint?: (step: number, path: string) => void,
  ) {
    const dir = plan.options.checkpointDir;
    if (plan.resumeFrom && dir !== undefined) this.last = { step: plan.resumeFrom.step, path: checkpointPath(dir) };
  }

  /**
   * A checkpoint after `step` (`undrawn` rewinds the sampler past a batch drawn for a
   * step that failed); its path, or undefined without a checkpoint folder or when the
   * parameters are not finite (the last good checkpoint stays). A write that fails
   * throws an OutputError that names the file and the checkpoint that is still there.
   */
  checkpoint(step: number, undrawn = 0): string | undefined {
    const dir = this.plan.options.checkpointDir;
    if (dir === undefined || !this.kernels.allFinite(this.model.params)) return undefined;
    const samplerState = this.sampler.state();
    // within an epoch, moving the cursor back draws the same batch again; a fresh epoch keeps its new permutation
    samplerState.cursor -= undrawn;
    let path: string;
    try {
      path = saveCheckpoint(dir, {
        step,
        fingerprint: this.plan.fingerprint,
        spec: this.plan.spec,
        batchSize: this.plan.batchSize,
        block: this.plan.block,
        params: this.model.params,
        optimizer: { config: this.plan.optimizer, state: this.optimizer.state() },
        sampler: samplerState,
      });
    } catch (err) {
      const before = this.last ? `the checkpoint of step ${this.last.step} there is intact: free space, then continue with --resume` : 'no checkpoint was written before';
      throw new OutputError('--checkpoint-dir', `--checkpoint-dir ${dir}: cannot write the checkpoint of step ${step} (${codeOf(err)}); ${before}`);
    }
    this.last = { step, path };
    this.onCheckpoint?.(step, path);
    return path;
  }

  /** The newest checkpoint on disk, if any (its parameters are finite: no other is written). */
  kept(): { step: number; path: string } | undefined {
    return this.last;
  }

  /** What to tell a user whose run failed: where its last checkpoint is, and how to go on. */
  recovery(): string {
    return this.last ? `; the checkpoint of step ${this.last.step} is in ${this.last.path} (continue with --resume)` : '';
  }

  /**
   * Saves the trained model to --out. When that fails (a full disk), the model is not
   * lost: it goes into a checkpoint when there is a checkpoint folder (a --resume with
   * the same flags then saves it), else into a folder of its own under the system's
   * temporary directory; the OutputError says where, and how to go on.
   */
  saveModel(step: number): void {
    const out = this.plan.outPath;
    try {
      saveModel(this.model, out);
      return;
    } catch (err) {
      const failed = `--out ${out}: cannot write the trained model (${codeOf(err)})`;
      throw new OutputError('--out', `${failed}; ${this.rescue(step)}`);
    }
  }

  private rescue(step: number): string {
    if (this.plan.options.checkpointDir !== undefined) {
      try {
        const path = this.checkpoint(step);
        if (path) return `it is kept in the checkpoint ${path} (step ${step}): free space, then run again with --resume and the same flags to save it`;
      } catch {
        // the checkpoint folder is full too: try the temporary directory
      }
    }
    try {
      const path = join(mkdtempSync(join(tmpdir(), 'shardprop-rescue-')), 'model.json');
      saveModel(this.model, path);
      return `it was written to ${path} instead`;
    } catch (err) {
      return `it could not be kept anywhere (${codeOf(err)})${this.recovery()}`;
    }
  }
}

function codeOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message;
}
