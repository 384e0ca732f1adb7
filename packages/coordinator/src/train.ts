/**
 * train(): the programmatic API behind `shardprop train` and `shardprop
 * coordinator`. It plans the run, picks who computes the gradients (this process,
 * or a coordinator with local or remote workers), runs the training loop and
 * writes the run record.
 */
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '@shardprop/worker';
import { DashboardHttp, dashboardUrl } from './dashboard/http.js';
import { DashboardState } from './dashboard/state.js';
import { LocalWorkers } from './local-workers.js';
import { RunMetrics } from './metrics.js';
import { DEFAULT_GRADIENT_FORM, UsageError, defaultWorkers, localWorkerThreads, resolveAggregation, resolveKernelOption, validateWorkerCount, type ServeOptions, type TrainOptions } from './options.js';
import type { Aggregation } from '@shardprop/protocol';
import { planTraining, type TrainingPlan } from './plan.js';
import { RunFolder } from './run-folder.js';
import { TrainingInterrupted, inProcessEngine, isStop, runTraining, type GradientEngine, type TrainingHooks, type TrainSummary } from './training-loop.js';
import { isLoopback } from '@shardprop/protocol';
import { whereTimeWent } from './where-time-goes.js';
import type { WorkerSnapshot } from './step-events.js';
import { Coordinator } from './ws-adapter.js';

export interface TrainCallbacks extends TrainingHooks {
  log?: Logger;
  /** Called once the plan is made (data loaded, model built), before the first step. */
  onPlan?(plan: TrainingPlan): void;
  /** Called when the coordinator listens (distributed runs), with the URL workers connect to and how it aggregates. */
  onListening?(url: string, aggregation: Aggregation): void;
  /** Called when the dashboard is served, with its address (without the token). */
  onDashboard?(url: string): void;
  /** Called when the coordinator listens (distributed runs), with a way to read its worker table. */
  onWorkerTable?(snapshot: () => WorkerSnapshot[]): void;
  /** Awaited with the summary once the run is over, before the coordinator closes: its dashboard and /metrics still answer. */
  onFinished?(summary: TrainSummary): void | Promise<void>;
}

/**
 * Trains a model as `shardprop train` does and resolves to the same summary as
 * `--json` prints. `workers: 0` trains in this process; `workers: N` starts a
 * coordinator on 127.0.0.1 and N local worker processes; `expect: N` serves and
 * waits for N workers that join by themselves (`shardprop worker --connect`).
 */
export async function train(options: TrainOptions & ServeOptions, callbacks: TrainCallbacks = {}): Promise<TrainSummary> {
  const log = callbacks.log ?? createLogger('warn');
  const startedAt = new Date();
  if (options.expect !== undefined) validateWorkerCount('--expect', options.expect, 1);
  // 0: in this process
  const workers = options.expect ?? options.workers ?? defaultWorkers();
  const plan = planTraining(options, await resolveKernelOption(options.kernel), workers);
  warnOversubscribed(plan, options, workers, log);
  callbacks.onPlan?.(plan);
  // what the dashboard shows; served only where there is a coordinator (createEngine)
  const dashboard = options.dashboard && workers > 0 ? new DashboardState(plan) : undefined;
  // GET /metrics, beside the dashboard
  const metrics = dashboard ? new RunMetrics(plan) : undefined;
  // the record says running from now on, with the dashboard's address once there is one
  const folder = new RunFolder(options, plan, workers, log, startedAt);
  folder.start();
  const served: TrainCallbacks = {
    ...callbacks,
    onDashboard: (url) => (folder.setDashboard(url), callbacks.onDashboard?.(url)),
    onWorkerTable: (snapshot) => (folder.watchWorkers(snapshot), callbacks.onWorkerTable?.(snapshot)),
  };
  let engine: DistributableEngine | undefined;
  try {
    engine = await createEngine(plan, options, workers, served, log, dashboard, metrics);
    await waitForWorkers(engine, plan, callbacks.signal);
    const hooks = dashboard?.observe(callbacks) ?? callbacks;
    const summary = await runTraining(plan, engine, folder.observe(metrics?.observe(hooks) ?? hooks));
    dashboard?.finish('finished');
    const timing = engine.timing?.();
    if (workers > 0 && timing) summary.time = whereTimeWent(plan, engine.stepsDone ?? 0, timing);
    // the model is saved; a record that cannot be written does not cost the run
    summary.runRecord = folder.finish('finished', summary);
    await callbacks.onFinished?.(summary);
    return summary;
  } catch (err) {
    const status = err instanceof TrainingInterrupted ? 'stopped' : 'failed';
    dashboard?.finish(status, (err as Error).message);
    folder.finish(status, undefined, (err as Error).message);
    throw err;
  } finally {
    // after finish(): the dashboard's last frame carries the run's end
    await engine?.close?.();
    plan.kernels.close();
  }
}

/**
 * A warning when the threads that compute at once outnumber the cores: in process its
 * own, with local workers theirs (the coordinator computes while they wait). They would
 * take turns, slower than fewer threads (measured: 2 workers x 2 threads on 2 cores ran
 * at 0.4x of 2 x 1).
 */
function warnOversubscribed(plan: TrainingPlan, options: TrainOptions & ServeOptions, workers: number, log: Logger): void {
  const cores = availableParallelism();
  const local = workers > 0 && options.expect === undefined;
  const threads = workers === 0 ? plan.kernels.threads : local ? workers * localWorkerThreads(workers, options.threads) : 0;
  if (threads > cores) log.warn({ threads, cores }, 'more threads than cores would compute at once: they take turns, which is slower; leave out --threads to use each core once');
}

/** A distributed engine is usable once its workers have joined. */
interface DistributableEngine extends GradientEngine {
  waitForWorkers?(): Promise<void>;
  /** Steps whose gradient it computed (distributed: its workers). */
  readonly stepsDone?: number;
}

/** Until the engine's workers have joined; a stop asked for meanwhile ends the run at once, with nothing new to checkpoint. */
async function waitForWorkers(engine: DistributableEngine, plan: TrainingPlan, signal: AbortSignal | undefined): Promise<void> {
  const stopped = () => new TrainingInterrupted(plan.resumeFrom?.step ?? 0, undefined, 'training stopped while waiting for workers, before its first step');
  if (signal?.aborted) throw stopped();
  const stop = () => engine.stop?.();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    await engine.waitForWorkers?.();
  } catch (err) {
    throw isStop(err) ? stopped() : err;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}

/** The in-process engine for 0 workers; else a coordinator listening, with `workers` local ones to start or (--expect) to wait for. */
async function createEngine(
  plan: TrainingPlan, options: TrainOptions & ServeOptions, workers: number, callbacks: TrainCallbacks, log: Logger, dashboard?: DashboardState, metrics?: RunMetrics,
): Promise<DistributableEngine> {
  if (workers === 0) return inProcessEngine(plan);
  const local = options.expect === undefined;

  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && options.token === undefined) {
    throw new UsageError(`listening on ${host} needs a token (--token-file): anyone who can reach the port could join and send gradients`);
  }
  // local workers get a fresh secret through their environment, so no other local process can join in their place
  const token = options.token ?? (local ? randomBytes(24).toString('base64url') : undefined);
  // the dashboard needs the user's token (--token-file), never the local workers' secret
  const site = dashboard ? new DashboardHttp(dashboard, { token: options.token, log, metrics }) : undefined;
  const aggregation = resolveAggregation(options.aggregation, host, options.tls !== undefined);
  const server = await Coordinator.listen({ host, port: options.port ?? 0, expect: workers, plan, log, gradientForm: options.gradientForm ?? DEFAULT_GRADIENT_FORM, aggregation, token, tls: options.tls,
    onHttpRequest: site?.handle,
    stepTimeoutMs: options.stepTimeout === undefined ? undefined : options.stepTimeout * 1000,
    waitWorkersMs: options.waitWorkers === undefined ? undefined : options.waitWorkers * 1000,
    helloTimeoutMs: options.helloTimeout === undefined ? undefined : options.helloTimeout * 1000,
  });
  log.info({ url: server.url, expect: workers, aggregation }, local ? 'coordinator listening; starting local workers' : 'coordinator listening; waiting for workers');
  callbacks.onListening?.(server.url, aggregation);
  if (dashboard) {
    dashboard.watchWorkers(() => server.snapshot());
    callbacks.onDashboard?.(dashboardUrl(server.url));
  }
  metrics?.watch(server);
  callbacks.onWorkerTable?.(() => server.snapshot());
  const children = new LocalWorkers(log);
  let gaveUp = false;
  let stepsDone = 0;
  return {
    get workers() {
      return server.workers;
    },
    get stepsDone() {
      return stepsDone;
    },
    async waitForWorkers() {
      const joined = server.waitForWorkers();
      if (local) children.start(workers, server.url, token, localWorkerThreads(workers, options.threads), (message) => server.abortWait(new Error(message)));
      try {
        await joined;
      } catch (err) {
        gaveUp = true;
        throw err;
      }
    },
    async gradient(step, indices, model, grad) {
      const result = await server.gradient(step, indices, model, grad);
      stepsDone++;
      metrics?.stepDone(step, result.count);
      return result;
    },
    stop: () => server.stop(),
    timing: () => server.timing(),
    contributions: () => server.contributions(),
    async close() {
      // the site first: its last frame goes out before the server cuts every connection
      site?.close();
      if (gaveUp) {
        children.kill();
        await server.close('the coordinator gave up');
        return;
      }
      await server.close();
      await children.stop();
    },
  };
}

