/**
 * The join page (served by the coordinator at /join): it starts the tab's
 * worker in a Web Worker (tab-worker.ts) and shows what it does. The token
 * comes in the link's fragment (#token=…), which a browser never sends to a
 * server; the page moves it out of the address bar into this tab's session
 * storage, so a reload still joins and the address can be shared without it.
 */
import type { FromTabWorker, TabProgress, TabState, ToTabWorker } from './tab-messages.js';

const MAX_THREADS = 64;

const $ = (id: string): HTMLElement => document.getElementById(id)!;

/**
 * The fragment's settings, `token=…&threads=N&name=…`: each value percent-decoded (a `+` stays a
 * `+`, unlike a query's), so a token pasted by hand after `#token=` keeps its characters.
 */
function fragmentSettings(): { token?: string; threads?: number; name?: string; silenceMs?: number } {
  const params = new Map<string, string>();
  for (const part of location.hash.slice(1).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      params.set(part.slice(0, eq), decodeURIComponent(part.slice(eq + 1)));
    } catch {
      params.set(part.slice(0, eq), part.slice(eq + 1)); // a lone % : taken as it is
    }
  }
  const stored = sessionStorage.getItem('shardprop-token') ?? undefined;
  const token = params.get('token') ?? stored;
  if (token !== undefined && token !== null) sessionStorage.setItem('shardprop-token', token);
  if (params.has('token')) {
    const rest = location.hash.slice(1).split('&').filter((part) => !part.startsWith('token=')).join('&');
    history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  }
  const threads = Number(params.get('threads'));
  // more than the coordinator's 5 s between its 'alive' messages
  const silence = Number(params.get('silence'));
  return {
    token: token ?? undefined,
    threads: Number.isInteger(threads) && threads >= 1 ? Math.min(threads, MAX_THREADS) : undefined,
    name: params.get('name') ?? undefined,
    silenceMs: Number.isFinite(silence) && silence >= 6 ? Math.min(silence, 3600) * 1000 : undefined,
  };
}

function show(state: TabState, line: string): void {
  document.body.dataset.state = state;
  $('state').textContent = line;
  const over = state === 'done' || state === 'refused' || state === 'failed' || state === 'stopped';
  ($('stop') as HTMLButtonElement).disabled = over;
}

const mb = (bytes: number): string => (bytes < 2 ** 20 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / 2 ** 20).toFixed(1)} MB`);

function showProgress(p: TabProgress): void {
  if (document.body.dataset.state === 'training') $('state').textContent = `training: step ${p.runStep.toLocaleString('en')} of the run`;
  const set = (id: string, text: string): void => void ($(id).textContent = text);
  set('worker', p.workerId ? String(p.workerId) : '–');
  set('model', p.layers.length ? `${p.layers.join('–')}, ${p.dtype}` : '–');
  set('held', p.held ? `${p.held.toLocaleString('en')} samples (${mb(p.dataBytes)}), model ${mb(p.modelBytes)}` : '–');
  set('steps', p.steps.toLocaleString('en'));
  set('samples', p.samples.toLocaleString('en'));
  set('rate', p.steps > 1 ? `${Math.round(p.samplesPerSecond).toLocaleString('en')}` : '–');
  set('share', p.steps ? `${(100 * p.lastShare).toFixed(1)} % of the last step, ${(100 * p.share).toFixed(1)} % of all` : '–');
}

function main(): void {
  const settings = fragmentSettings();
  const isolated = globalThis.crossOriginIsolated === true;
  const threads = isolated ? (settings.threads ?? Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS)) : 1;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  $('coordinator').textContent = url;
  $('compute').textContent = isolated
    ? `WebAssembly SIMD on ${threads} thread${threads > 1 ? 's' : ''} (this page is cross-origin isolated)`
    : 'WebAssembly SIMD on 1 thread (this page is not cross-origin isolated: no shared memory; open it over https or on this machine for threads)';
  $('token').textContent = settings.token === undefined ? 'none given' : 'given (in the link, never sent with the page)';
  const worker = new Worker('/join/tab-worker.js');
  worker.onmessage = (e: MessageEvent<FromTabWorker>) => {
    const m = e.data;
    if (m.type === 'state') show(m.state, m.line);
    else showProgress(m.progress);
  };
  worker.onerror = (e) => show('failed', `stopped: the worker script failed (${e.message})`);
  $('stop').onclick = () => worker.postMessage({ type: 'stop' } satisfies ToTabWorker);
  const name = settings.name ?? `browser:${navigator.platform || 'tab'}:${Math.random().toString(36).slice(2, 8)}`;
  worker.postMessage({ type: 'start', url, token: settings.token, name, threads, isolated, silenceMs: settings.silenceMs } satisfies ToTabWorker);
  show('starting', 'starting');
}

main();
