import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { TOKEN_HEADER, TOKEN_PROTOCOL, WS_PROTOCOL, admission, listenWebSocket, sameOrigin, tokenOf, type Transport } from '@shardprop/protocol';

/**
 * Who may join a coordinator: the rules of the upgrade (admission, tokenOf,
 * sameOrigin) on stand-in requests, then the same rules on a real listening
 * transport, with the `ws` client playing both a browser (an Origin, the token
 * as a subprotocol) and a Node worker (the token header, no Origin).
 */
const TOKEN = 'admission-test-token-0123456789';
const UNICODE_TOKEN = 'clé-secrète-ünïcode-0123456789';

const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

/** An IncomingMessage as far as admission reads one: its headers (lower-case names, as Node gives them). */
function req(headers: Record<string, string | string[]>, tls = false): IncomingMessage {
  return { headers, socket: { encrypted: tls } } as unknown as IncomingMessage;
}

/** The headers a browser sends with its WebSocket upgrade from a page at http://HOST, offering `token`. */
function browserUpgrade(host: string, token?: string): Record<string, string> {
  return {
    host,
    origin: `http://${host}`,
    'sec-websocket-protocol': token === undefined ? WS_PROTOCOL : `${WS_PROTOCOL}, ${TOKEN_PROTOCOL}${b64url(token)}`,
  };
}

describe('sameOrigin', () => {
  it('lets in a request without an Origin (Node workers, curl)', () => {
    expect(sameOrigin(req({ host: '127.0.0.1:7070' }))).toBe(true);
    expect(sameOrigin(req({ host: 'example.com' }))).toBe(true);
    expect(sameOrigin(req({}))).toBe(true);
  });

  it("accepts an Origin whose host:port is the Host header, with and without a port", () => {
    expect(sameOrigin(req({ host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7070' }))).toBe(true);
    expect(sameOrigin(req({ host: 'example.com', origin: 'http://example.com' }))).toBe(true);
    expect(sameOrigin(req({ host: 'example.com:8443', origin: 'https://example.com:8443' }, true))).toBe(true);
    // default ports: an Origin never names them, a Host may
    expect(sameOrigin(req({ host: 'example.com:443', origin: 'https://example.com' }, true))).toBe(true);
    expect(sameOrigin(req({ host: 'example.com:80', origin: 'http://example.com' }))).toBe(true);
    expect(sameOrigin(req({ host: '[::1]:7070', origin: 'http://[::1]:7070' }))).toBe(true);
    expect(sameOrigin(req({ host: 'localhost:7070', origin: 'http://localhost:7070' }))).toBe(true);
  });

  it('refuses an Origin of another host or another port', () => {
    expect(sameOrigin(req({ host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7071' }))).toBe(false);
    expect(sameOrigin(req({ host: '127.0.0.1:7070', origin: 'http://127.0.0.1' }))).toBe(false);
    expect(sameOrigin(req({ host: '127.0.0.1', origin: 'http://127.0.0.1:7070' }))).toBe(false);
    expect(sameOrigin(req({ host: '127.0.0.1:7070', origin: 'http://evil.example:7070' }))).toBe(false);
    expect(sameOrigin(req({ host: 'example.com', origin: 'http://evil.example' }))).toBe(false);
    // an Origin without a Host to compare it with
    expect(sameOrigin(req({ origin: 'http://127.0.0.1:7070' }))).toBe(false);
  });

  it('refuses an Origin of another scheme: an http page of the same address does not reach a TLS coordinator, nor the reverse', () => {
    expect(sameOrigin(req({ host: '10.0.0.5', origin: 'http://10.0.0.5' }, true))).toBe(false);
    expect(sameOrigin(req({ host: '10.0.0.5:7070', origin: 'http://10.0.0.5:7070' }, true))).toBe(false);
    expect(sameOrigin(req({ host: '10.0.0.5:7070', origin: 'https://10.0.0.5:7070' }))).toBe(false);
    expect(admission(req({ host: '10.0.0.5', origin: 'http://10.0.0.5' }, true), undefined)).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
  });

  it("refuses a malformed Origin ('null' from a sandboxed page or a file:, or not a URL at all)", () => {
    expect(sameOrigin(req({ host: '127.0.0.1:7070', origin: 'null' }))).toBe(false);
    expect(sameOrigin(req({ host: '127.0.0.1:7070', origin: 'not a url' }))).toBe(false);
    expect(sameOrigin(req({ host: '127.0.0.1:7070', origin: '' }))).toBe(false);
  });
});

describe('tokenOf', () => {
  it('has none when neither the header nor a token subprotocol is there', () => {
    expect(tokenOf(req({ host: '127.0.0.1:7070' }))).toBeUndefined();
    expect(tokenOf(req({ 'sec-websocket-protocol': WS_PROTOCOL }))).toBeUndefined();
    expect(tokenOf(req({ 'sec-websocket-protocol': 'chat, superchat' }))).toBeUndefined();
  });

  it(`reads the ${TOKEN_HEADER} header`, () => {
    expect(tokenOf(req({ [TOKEN_HEADER]: TOKEN }))).toBe(TOKEN);
  });

  it('reads the token subprotocol a browser offers beside the plain one, in either order', () => {
    expect(tokenOf(req({ 'sec-websocket-protocol': `${WS_PROTOCOL}, ${TOKEN_PROTOCOL}${b64url(TOKEN)}` }))).toBe(TOKEN);
    expect(tokenOf(req({ 'sec-websocket-protocol': `${TOKEN_PROTOCOL}${b64url(TOKEN)},${WS_PROTOCOL}` }))).toBe(TOKEN);
    // the same header given twice (an array, as Node would hand it over untouched)
    expect(tokenOf(req({ 'sec-websocket-protocol': [WS_PROTOCOL, `${TOKEN_PROTOCOL}${b64url(TOKEN)}`] }))).toBe(TOKEN);
  });

  it('round-trips a non-ASCII token through base64url of its UTF-8 bytes', () => {
    const encoded = b64url(UNICODE_TOKEN);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/); // an HTTP token, as a subprotocol must be
    expect(tokenOf(req({ 'sec-websocket-protocol': `${WS_PROTOCOL}, ${TOKEN_PROTOCOL}${encoded}` }))).toBe(UNICODE_TOKEN);
  });

  it('prefers the header to the subprotocol', () => {
    const both = req({ [TOKEN_HEADER]: 'from-the-header', 'sec-websocket-protocol': `${WS_PROTOCOL}, ${TOKEN_PROTOCOL}${b64url('from-the-protocol')}` });
    expect(tokenOf(both)).toBe('from-the-header');
  });
});

describe('admission', () => {
  describe('without a token configured', () => {
    it('lets in a Node worker (no Origin) by any Host, a DNS name too', () => {
      expect(admission(req({ host: '127.0.0.1:7070' }), undefined)).toEqual({ ok: true });
      expect(admission(req({ host: 'coordinator.example.com:7070' }), undefined)).toEqual({ ok: true });
      expect(admission(req({ host: 'coordinator.example.com' }), undefined)).toEqual({ ok: true });
    });

    it('lets in a browser of this origin reaching it by an IP literal or localhost, with or without a port', () => {
      for (const host of ['127.0.0.1:7070', '127.0.0.1', '10.1.2.3:7070', '[::1]:7070', '[::1]', '[fe80::1]:7070', 'localhost:7070', 'localhost']) {
        expect(admission(req(browserUpgrade(host)), undefined), host).toEqual({ ok: true });
      }
    });

    it('refuses a browser reaching it by a DNS name (DNS rebinding), even from a same-origin page', () => {
      for (const host of ['example.com', 'example.com:7070', 'localhost.evil.example:7070', '127.0.0.1.nip.io:7070']) {
        const refused = admission(req(browserUpgrade(host)), undefined);
        expect(refused, host).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
        expect((refused as { reason: string }).reason).toMatch(/IP address or localhost/);
      }
    });

    it('treats a request as a browser when told so, without an Origin (the page asking /join/check)', () => {
      expect(admission(req({ host: 'example.com:7070' }), undefined, true)).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
      expect(admission(req({ host: '127.0.0.1:7070' }), undefined, true)).toEqual({ ok: true });
      expect(admission(req({ host: '[::1]:7070' }), undefined, true)).toEqual({ ok: true });
      expect(admission(req({}), undefined, true)).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
    });

    it('refuses a page of another site, and a malformed Origin, with 403', () => {
      const foreign = admission(req({ host: '127.0.0.1:7070', origin: 'http://evil.example' }), undefined);
      expect(foreign).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
      expect((foreign as { reason: string }).reason).toContain('http://evil.example');
      for (const origin of ['null', 'not a url', 'http://127.0.0.1:7071']) {
        expect(admission(req({ host: '127.0.0.1:7070', origin }), undefined), origin).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
      }
    });
  });

  describe('with a token', () => {
    it('lets in a Node worker with the right header, by any Host', () => {
      expect(admission(req({ host: '127.0.0.1:7070', [TOKEN_HEADER]: TOKEN }), TOKEN)).toEqual({ ok: true });
      expect(admission(req({ host: 'coordinator.example.com:7070', [TOKEN_HEADER]: TOKEN }), TOKEN)).toEqual({ ok: true });
    });

    it('lets in a browser offering the right token subprotocol, by an IP or by a DNS name (the token decides)', () => {
      expect(admission(req(browserUpgrade('127.0.0.1:7070', TOKEN)), TOKEN)).toEqual({ ok: true });
      expect(admission(req(browserUpgrade('[::1]:7070', TOKEN)), TOKEN)).toEqual({ ok: true });
      expect(admission(req(browserUpgrade('coordinator.example.com', TOKEN)), TOKEN)).toEqual({ ok: true });
      expect(admission(req(browserUpgrade('coordinator.example.com:7070', TOKEN)), TOKEN)).toEqual({ ok: true });
    });

    it('lets in a non-ASCII token, by the header and by the subprotocol', () => {
      expect(admission(req(browserUpgrade('127.0.0.1:7070', UNICODE_TOKEN)), UNICODE_TOKEN)).toEqual({ ok: true });
      expect(admission(req({ host: '127.0.0.1:7070', [TOKEN_HEADER]: UNICODE_TOKEN }), UNICODE_TOKEN)).toEqual({ ok: true });
      // the same token stripped of its accents is another token
      expect(admission(req(browserUpgrade('127.0.0.1:7070', 'cle-secrete-unicode-0123456789')), UNICODE_TOKEN)).toMatchObject({ ok: false, status: 401, code: 'SP_ERR_TOKEN_WRONG' });
    });

    it('answers 401 SP_ERR_TOKEN_MISSING without a token', () => {
      for (const headers of [{ host: '127.0.0.1:7070' }, browserUpgrade('127.0.0.1:7070'), browserUpgrade('coordinator.example.com')]) {
        expect(admission(req(headers), TOKEN)).toMatchObject({ ok: false, status: 401, code: 'SP_ERR_TOKEN_MISSING' });
      }
      expect(admission(req({ host: '127.0.0.1:7070' }), TOKEN, true)).toMatchObject({ ok: false, status: 401, code: 'SP_ERR_TOKEN_MISSING' });
    });

    it('answers 401 SP_ERR_TOKEN_WRONG with a wrong token, by header or subprotocol', () => {
      const wrong = [
        { host: '127.0.0.1:7070', [TOKEN_HEADER]: 'not-the-token' },
        { host: '127.0.0.1:7070', [TOKEN_HEADER]: '' },
        { host: '127.0.0.1:7070', [TOKEN_HEADER]: `${TOKEN} ` },
        browserUpgrade('127.0.0.1:7070', 'not-the-token'),
        browserUpgrade('127.0.0.1:7070', TOKEN.slice(0, -1)),
        // the token itself, not base64url of it
        { host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7070', 'sec-websocket-protocol': `${WS_PROTOCOL}, ${TOKEN_PROTOCOL}${TOKEN}` },
      ];
      for (const headers of wrong) {
        const refused = admission(req(headers), TOKEN);
        expect(refused, JSON.stringify(headers)).toMatchObject({ ok: false, status: 401, code: 'SP_ERR_TOKEN_WRONG' });
        expect(JSON.stringify(refused)).not.toContain(TOKEN);
      }
    });

    it('goes by the header when both are given', () => {
      const rightHeader = { ...browserUpgrade('127.0.0.1:7070', 'not-the-token'), [TOKEN_HEADER]: TOKEN };
      const wrongHeader = { ...browserUpgrade('127.0.0.1:7070', TOKEN), [TOKEN_HEADER]: 'not-the-token' };
      expect(admission(req(rightHeader), TOKEN)).toEqual({ ok: true });
      expect(admission(req(wrongHeader), TOKEN)).toMatchObject({ ok: false, status: 401, code: 'SP_ERR_TOKEN_WRONG' });
    });

    it('checks the Origin before the token: a foreign page with the right token is refused 403', () => {
      const foreign = { ...browserUpgrade('127.0.0.1:7070', TOKEN), origin: 'http://evil.example' };
      expect(admission(req(foreign), TOKEN)).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
      expect(admission(req({ host: '127.0.0.1:7070', origin: 'null', [TOKEN_HEADER]: TOKEN }), TOKEN)).toMatchObject({ ok: false, status: 403, code: 'SP_ERR_FOREIGN_ORIGIN' });
    });
  });
});

describe('listenWebSocket admits by those rules at the upgrade', () => {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  interface Refusal {
    address: string;
    code: string;
    reason: string;
  }

  async function listen(verifyToken: string | undefined): Promise<{ transport: Transport; refusals: Refusal[] }> {
    const refusals: Refusal[] = [];
    const transport = await listenWebSocket({
      host: '127.0.0.1',
      port: 0,
      maxPayload: 1 << 20,
      verifyToken,
      onError() {},
      onUnauthorised: (address, code, reason) => refusals.push({ address, code, reason }),
    });
    open.push(transport);
    return { transport, refusals };
  }

  /** Connects; resolves with the open socket, or the HTTP status of a refused upgrade. */
  function connect(port: number, protocols: string[], options: { origin?: string; headers?: Record<string, string> }): Promise<{ ws: WebSocket; status?: number }> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, protocols, options);
    open.push({ close: () => ws.terminate() });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ ws }));
      ws.once('unexpected-response', (_req, res) => {
        resolve({ ws, status: res.statusCode });
        res.resume();
      });
      ws.once('error', reject);
    });
  }

  it('opens for a browser of this origin offering the token subprotocol, and selects only the plain one', async () => {
    const { transport, refusals } = await listen(TOKEN);
    const origin = `http://127.0.0.1:${transport.port}`;
    const { ws, status } = await connect(transport.port, [WS_PROTOCOL, TOKEN_PROTOCOL + b64url(TOKEN)], { origin });
    expect(status).toBeUndefined();
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(ws.protocol).toBe(WS_PROTOCOL);
    expect(ws.protocol).not.toContain(b64url(TOKEN));
    expect(transport.wss.clients.size).toBe(1);
    expect(refusals).toEqual([]);
  });

  it('opens for a browser with a non-ASCII token', async () => {
    const { transport } = await listen(UNICODE_TOKEN);
    const origin = `http://127.0.0.1:${transport.port}`;
    const { ws, status } = await connect(transport.port, [WS_PROTOCOL, TOKEN_PROTOCOL + b64url(UNICODE_TOKEN)], { origin });
    expect(status).toBeUndefined();
    expect(ws.protocol).toBe(WS_PROTOCOL);
  });

  it('answers 401 to a browser with a wrong token, and reports it without the token', async () => {
    const { transport, refusals } = await listen(TOKEN);
    const origin = `http://127.0.0.1:${transport.port}`;
    const { status } = await connect(transport.port, [WS_PROTOCOL, TOKEN_PROTOCOL + b64url('not-the-token')], { origin });
    expect(status).toBe(401);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ code: 'SP_ERR_TOKEN_WRONG' });
    expect(refusals[0]!.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(JSON.stringify(refusals)).not.toContain(TOKEN);
    expect(transport.wss.clients.size).toBe(0);
  });

  it('answers 401 to a browser offering no token', async () => {
    const { transport, refusals } = await listen(TOKEN);
    const { status } = await connect(transport.port, [WS_PROTOCOL], { origin: `http://127.0.0.1:${transport.port}` });
    expect(status).toBe(401);
    expect(refusals.map((r) => r.code)).toEqual(['SP_ERR_TOKEN_MISSING']);
  });

  it('answers 403 to a page of another origin, even with the right token', async () => {
    const { transport, refusals } = await listen(TOKEN);
    const { status } = await connect(transport.port, [WS_PROTOCOL, TOKEN_PROTOCOL + b64url(TOKEN)], { origin: 'http://127.0.0.1:1' });
    expect(status).toBe(403);
    expect(refusals.map((r) => r.code)).toEqual(['SP_ERR_FOREIGN_ORIGIN']);
    expect(transport.wss.clients.size).toBe(0);
  });

  it('opens for a Node worker with the header and no Origin (no subprotocol selected)', async () => {
    const { transport, refusals } = await listen(TOKEN);
    const { ws, status } = await connect(transport.port, [], { headers: { [TOKEN_HEADER]: TOKEN } });
    expect(status).toBeUndefined();
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(ws.protocol).toBe('');
    expect(refusals).toEqual([]);
  });

  it('answers 401 to a Node worker with a wrong header', async () => {
    const { transport } = await listen(TOKEN);
    const { status } = await connect(transport.port, [], { headers: { [TOKEN_HEADER]: 'not-the-token' } });
    expect(status).toBe(401);
  });

  it('without a token: opens for a browser by its IP, refuses one by a DNS name with 403', async () => {
    const { transport, refusals } = await listen(undefined);
    const here = `127.0.0.1:${transport.port}`;
    const { ws, status } = await connect(transport.port, [WS_PROTOCOL], { origin: `http://${here}` });
    expect(status).toBeUndefined();
    expect(ws.protocol).toBe(WS_PROTOCOL);
    // the page of a name that now resolves to this address: its Origin and Host agree, the Host is no IP
    const rebound = `rebound.example:${transport.port}`;
    const refused = await connect(transport.port, [WS_PROTOCOL], { origin: `http://${rebound}`, headers: { host: rebound } });
    expect(refused.status).toBe(403);
    expect(refusals.map((r) => r.code)).toEqual(['SP_ERR_FOREIGN_ORIGIN']);
  });

  it('selects no subprotocol for a client offering only others (the ws client then fails the handshake)', async () => {
    const { transport } = await listen(undefined);
    const ws = new WebSocket(`ws://127.0.0.1:${transport.port}`, ['chat']);
    open.push({ close: () => ws.terminate() });
    const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
    expect(error.message).toMatch(/subprotocol/i);
  });
});
