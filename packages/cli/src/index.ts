export { runSweep, bestRun, formatResults, type SweepRun, type SweepOptions, type SweepResult, type SweepRunRecord } from './sweep.js';
export { buildCli, main } from './main.js';
export { timeReport } from './time-report.js';
export { joinHint, type JoinHint, type JoinFiles } from './join-hint.js';
export { writeCertificate, validateCertificateHosts, type CertificateFiles } from './certs.js';
export { readTrace, diffTraces, describeTraceDiff, type Trace, type TracedStep, type TraceDiff, type TraceSide, type TraceField } from './trace-diff.js';
export { slurmPlan, type LaunchOptions, type LaunchPlan, type Scontrol } from './slurm.js';
