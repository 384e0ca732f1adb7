import type { StepProgress } from '@shardprop/coordinator';

/** The one-line progress display of a terminal run; a no-op when not wanted. */
export interface Progress {
  update(p: StepProgress): void;
  /** Clears the line, so a log line or the final output starts clean. */
  clear(): void;
}

const silent: Progress = { update() {}, clear() {} };

export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled) return silent;
  let shown = false;
  return {
    update(p) {
      const pct = ((100 * p.step) / p.totalSteps).toFixed(0).padStart(3);
      const line = `${pct}%  epoch ${p.epoch}  step ${p.step}/${p.totalSteps}  risk ${p.risk.toFixed(5)}  ${Math.round(p.samplesPerSecond).toLocaleString('en-US')} samples/s`;
      stream.write(`\r\x1b[2K${line}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
