import { existsSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_HEADER } from '@shardprop/protocol';
import { BROWSER_DIR } from '@shardprop/worker';
import { JOIN_PATH, withJoinPage } from '../../packages/coordinator/src/join-page.js';

/**
 * The join page on a plain node:http server over loopback, as the coordinator
 * mounts it in front of its other pages: the built page, its scripts and the
 * kernels' binaries with their headers (cross-origin isolation unless
 * ?isolation=off), /join/check's verdicts with and without a token, and every
 * other path handed to the next handler. Needs the build (`pnpm build`).
 */
const TOKEN = 'join-page-test-token-0123456789';

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** One request to 127.0.0.1:port, its answer read whole as bytes. */
function ask(port: number, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** What the next handler saw: the paths that were not the join page's. */
const reachedNext: string[] = [];
function next(req: IncomingMessage, res: ServerResponse): void {
  reachedNext.push(`${req.method} ${req.url}`);
  res.writeHead(200, { 'content-type': 'text/plain', 'x-next': 'yes' }).end(`next ${req.url}`);
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
}

let withToken: { server: Server; port: number };
let withoutToken: { server: Server; port: number };
beforeAll(async () => {
  expect(existsSync(`${BROWSER_DIR}join.html`), `${BROWSER_DIR} is not built: run pnpm build`).toBe(true);
  withToken = await listen(withJoinPage(next, TOKEN));
  withoutToken = await listen(withJoinPage(next));
});
afterAll(async () => {
  await Promise.all([withToken, withoutToken].filter(Boolean).map((s) => close(s.server)));
});

const FILES: [path: string, type: string][] = [
  ['/join', 'text/html; charset=utf-8'],
  ['/join/page.js', 'text/javascript; charset=utf-8'],
  ['/join/tab-worker.js', 'text/javascript; charset=utf-8'],
  ['/join/join.css', 'text/css; charset=utf-8'],
  ['/join/kernels.wasm', 'application/wasm'],
  ['/join/kernels-unshared.wasm', 'application/wasm'],
];

describe('the join page and its files', () => {
  it('JOIN_PATH is /join', () => {
    expect(JOIN_PATH).toBe('/join');
  });

  for (const [path, type] of FILES) {
    it(`serves ${path} as ${type}, cross-origin isolated, with its policy`, async () => {
      const a = await ask(withToken.port, path);
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe(type);
      expect(a.body.length).toBeGreaterThan(0);
      expect(a.headers['content-length']).toBe(String(a.body.length));
      expect(a.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(a.headers['cross-origin-embedder-policy']).toBe('require-corp');
      expect(a.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(a.headers['cache-control']).toBe('no-store');
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      const csp = a.headers['content-security-policy'];
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain("worker-src 'self' blob:");
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(a.headers['x-next']).toBeUndefined();
    });
  }

  it('serves the kernels as WebAssembly binaries (\\0asm)', async () => {
    for (const path of ['/join/kernels.wasm', '/join/kernels-unshared.wasm']) {
      const a = await ask(withToken.port, path);
      expect([...a.body.subarray(0, 4)], path).toEqual([0x00, 0x61, 0x73, 0x6d]);
      expect(WebAssembly.validate(new Uint8Array(a.body)), path).toBe(true);
    }
  });

  it('serves the page that loads its script and styles and has a Stop button', async () => {
    const html = (await ask(withToken.port, '/join')).body.toString('utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toMatch(/<script[^>]*src="\/join\/page\.js"/);
    expect(html).toMatch(/<link[^>]*href="\/join\/join\.css"/);
    expect(html).toMatch(/<button[^>]*id="stop"[^>]*>Stop<\/button>/);
  });

  it('serves the same page at /join/ and with a query', async () => {
    const page = (await ask(withToken.port, '/join')).body;
    for (const path of ['/join/', '/join?isolation=on', '/join?x=1#frag']) {
      const a = await ask(withToken.port, path);
      expect(a.status, path).toBe(200);
      expect(a.headers['content-type'], path).toBe('text/html; charset=utf-8');
      expect(a.body.equals(page), path).toBe(true);
    }
    const script = await ask(withToken.port, '/join/page.js?v=2');
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('serves the page and its files without the token: the token is checked at the upgrade', async () => {
    for (const [path] of FILES) expect((await ask(withToken.port, path)).status, path).toBe(200);
    expect((await ask(withoutToken.port, '/join')).status).toBe(200);
  });

  it('leaves out cross-origin isolation with ?isolation=off, keeping the rest', async () => {
    for (const path of ['/join?isolation=off', '/join/page.js?isolation=off', '/join/kernels-unshared.wasm?isolation=off', '/join?lang=en&isolation=off']) {
      const a = await ask(withToken.port, path);
      expect(a.status, path).toBe(200);
      expect(a.headers['cross-origin-opener-policy'], path).toBeUndefined();
      expect(a.headers['cross-origin-embedder-policy'], path).toBeUndefined();
      expect(a.headers['cross-origin-resource-policy'], path).toBe('same-origin');
      expect(a.headers['content-security-policy'], path).toContain("connect-src 'self'");
      expect(a.headers['cache-control'], path).toBe('no-store');
    }
    // any other value keeps it
    const on = await ask(withToken.port, '/join?isolation=no');
    expect(on.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(on.headers['cross-origin-embedder-policy']).toBe('require-corp');
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    for (const [path, type] of FILES) {
      const get = await ask(withToken.port, path);
      const head = await ask(withToken.port, path, { method: 'HEAD' });
      expect(head.status, path).toBe(200);
      expect(head.body.length, path).toBe(0);
      expect(head.headers['content-type'], path).toBe(type);
      expect(head.headers['content-length'], path).toBe(String(get.body.length));
      expect(head.headers['cross-origin-embedder-policy'], path).toBe('require-corp');
    }
  });

  it('answers other methods 405 with Allow: GET, HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      for (const path of ['/join', '/join/page.js', '/join/check', '/join/nope']) {
        const a = await ask(withToken.port, path, { method });
        expect(a.status, `${method} ${path}`).toBe(405);
        expect(a.headers.allow, `${method} ${path}`).toBe('GET, HEAD');
      }
    }
  });

  it('answers 404 for anything else under /join/', async () => {
    for (const path of ['/join/nope', '/join/page.js.map', '/join/tab-worker.js.LEGAL.txt', '/join/../join/page.js', '/join/PAGE.JS', '/join/page.js/']) {
      const a = await ask(withToken.port, path);
      expect(a.status, path).toBe(404);
      expect(a.headers['x-next'], path).toBeUndefined();
    }
  });

  it('hands every path not under /join to the next handler, untouched', async () => {
    reachedNext.length = 0;
    for (const path of ['/elsewhere', '/', '/joinery', '/join.html', '/healthz?x=1']) {
      const a = await ask(withToken.port, path);
      expect(a.status, path).toBe(200);
      expect(a.headers['x-next'], path).toBe('yes');
      expect(a.body.toString('utf8'), path).toBe(`next ${path}`);
    }
    const post = await ask(withToken.port, '/elsewhere', { method: 'POST' });
    expect(post.status).toBe(200);
    expect(reachedNext).toEqual(['GET /elsewhere', 'GET /', 'GET /joinery', 'GET /join.html', 'GET /healthz?x=1', 'POST /elsewhere']);
  });

  it('answers 426 for other paths when there is no next handler', async () => {
    const bare = await listen(withJoinPage());
    try {
      expect((await ask(bare.port, '/elsewhere')).status).toBe(426);
      expect((await ask(bare.port, '/join')).status).toBe(200);
    } finally {
      await close(bare.server);
    }
  });
});

describe('/join/check', () => {
  const json = (a: Answer): { code: string; reason: string } => JSON.parse(a.body.toString('utf8'));

  it('answers 204 with the right token', async () => {
    const a = await ask(withToken.port, '/join/check', { headers: { [TOKEN_HEADER]: TOKEN } });
    expect(a.status).toBe(204);
    expect(a.body.length).toBe(0);
    expect(a.headers['cache-control']).toBe('no-store');
  });

  it('answers 204 with the right token from a DNS name too (the token decides)', async () => {
    const a = await ask(withToken.port, '/join/check', { headers: { [TOKEN_HEADER]: TOKEN, host: 'coordinator.example.com' } });
    expect(a.status).toBe(204);
  });

  it('answers 401 SP_ERR_TOKEN_WRONG, as JSON, with a wrong token', async () => {
    const a = await ask(withToken.port, '/join/check', { headers: { [TOKEN_HEADER]: 'not-the-token' } });
    expect(a.status).toBe(401);
    expect(a.headers['content-type']).toBe('application/json');
    expect(a.headers['cache-control']).toBe('no-store');
    expect(json(a).code).toBe('SP_ERR_TOKEN_WRONG');
    expect(json(a).reason).toMatch(/wrong token/);
    expect(a.body.toString('utf8')).not.toContain(TOKEN);
  });

  it('answers 401 SP_ERR_TOKEN_MISSING without a token', async () => {
    const a = await ask(withToken.port, '/join/check');
    expect(a.status).toBe(401);
    expect(a.headers['content-type']).toBe('application/json');
    expect(json(a).code).toBe('SP_ERR_TOKEN_MISSING');
    expect(json(a).reason.length).toBeGreaterThan(0);
  });

  it('answers 403 SP_ERR_FOREIGN_ORIGIN to a page of another site, even with the token', async () => {
    const a = await ask(withToken.port, '/join/check', { headers: { [TOKEN_HEADER]: TOKEN, origin: 'http://evil.example' } });
    expect(a.status).toBe(403);
    expect(json(a).code).toBe('SP_ERR_FOREIGN_ORIGIN');
  });

  it('answers HEAD like GET, without a body', async () => {
    expect((await ask(withToken.port, '/join/check', { method: 'HEAD', headers: { [TOKEN_HEADER]: TOKEN } })).status).toBe(204);
    const head = await ask(withToken.port, '/join/check', { method: 'HEAD' });
    expect(head.status).toBe(401);
    expect(head.body.length).toBe(0);
  });

  it('takes a token with accents in the header (Latin-1 on the wire, as a browser sends a byte string)', async () => {
    const token = 'clé-secrète-ünïcode-0123456789';
    const unicode = await listen(withJoinPage(next, token));
    try {
      expect((await ask(unicode.port, '/join/check', { headers: { [TOKEN_HEADER]: token } })).status).toBe(204);
      const stripped = await ask(unicode.port, '/join/check', { headers: { [TOKEN_HEADER]: 'cle-secrete-unicode-0123456789' } });
      expect(stripped.status).toBe(401);
      expect(json(stripped).code).toBe('SP_ERR_TOKEN_WRONG');
    } finally {
      await close(unicode.server);
    }
  });

  describe('without a token configured', () => {
    it('answers 204 to a browser reaching the coordinator by its IP address (with the port, or an Origin of it)', async () => {
      const here = `127.0.0.1:${withoutToken.port}`;
      expect((await ask(withoutToken.port, '/join/check')).status).toBe(204);
      expect((await ask(withoutToken.port, '/join/check', { headers: { host: here } })).status).toBe(204);
      expect((await ask(withoutToken.port, '/join/check', { headers: { host: here, origin: `http://${here}` } })).status).toBe(204);
      expect((await ask(withoutToken.port, '/join/check', { headers: { host: `localhost:${withoutToken.port}` } })).status).toBe(204);
      expect((await ask(withoutToken.port, '/join/check', { headers: { host: `[::1]:${withoutToken.port}` } })).status).toBe(204);
    });

    it('answers 403 SP_ERR_FOREIGN_ORIGIN to a browser reaching it by a DNS name (DNS rebinding)', async () => {
      for (const host of ['example.com', `example.com:${withoutToken.port}`]) {
        const a = await ask(withoutToken.port, '/join/check', { headers: { host } });
        expect(a.status, host).toBe(403);
        expect(a.headers['content-type'], host).toBe('application/json');
        expect(json(a).code, host).toBe('SP_ERR_FOREIGN_ORIGIN');
        expect(json(a).reason, host).toMatch(/IP address or localhost/);
      }
    });

    it('answers 403 to a page of another site', async () => {
      const a = await ask(withoutToken.port, '/join/check', { headers: { host: `127.0.0.1:${withoutToken.port}`, origin: 'http://127.0.0.1:1' } });
      expect(a.status).toBe(403);
      expect(json(a).code).toBe('SP_ERR_FOREIGN_ORIGIN');
    });
  });
});
