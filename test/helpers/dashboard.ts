import type { TrainingPlan } from '@shardprop/coordinator';

/** The parts of a plan the dashboard reads: a tiny xor run of `totalSteps` steps. */
export function dashboardPlan(totalSteps: number): TrainingPlan {
  return {
    train: { source: 'xor', count: 4 },
    test: undefined,
    spec: { layers: [2, 4, 1], dtype: 'float64' },
    batchSize: 4,
    totalSteps,
    optimizer: { kind: 'sgd', lr: 1 },
  } as unknown as TrainingPlan;
}
