import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionGuard, openFileLimit, socketBounds } from '../../packages/protocol/src/connection-guard.js';
import { tempDir } from '../helpers/cli.js';

/**
 * The guard on real sockets over loopback (127.0.0.x are other "hosts"): each
 * connection is admitted before the next is opened, so the order is known.
 */
interface Rig {
  server: Server;
  guard: ConnectionGuard;
  reports: { code: string; dropped: number }[];
  /** Opens a connection from `host` once the guard has seen it: the client side, and the server's. */
  open(host: string): Promise<{ client: Socket; served: Socket; closed: Promise<void> }>;
}

const rigs: Rig[] = [];
afterEach(() => {
  for (const r of rigs.splice(0)) {
    r.guard.close();
    r.server.close();
  }
});

async function rig(bounds: { total: number; perHost: number }, timeoutMs = 3_600_000): Promise<Rig> {
  const reports: Rig['reports'] = [];
  const guard = new ConnectionGuard(bounds, (code, dropped) => reports.push({ code, dropped }), timeoutMs);
  let served: ((s: Socket) => void) | null = null;
  const server = createServer((s) => {
    s.on('error', () => {});
    guard.admit(s);
    served?.(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const r: Rig = {
    server, guard, reports,
    open: (host) =>
      new Promise((resolve) => {
        served = (s) => {
          served = null;
          resolve({ client, served: s, closed });
        };
        const client = connect({ port, host: '127.0.0.1', localAddress: host });
        client.on('error', () => {});
        const closed = new Promise<void>((done) => client.once('close', () => done()));
      }),
  };
  rigs.push(r);
  return r;
}

const isOpen = (s: Socket) => !s.destroyed && s.readyState === 'open';

describe('the connection guard', () => {
  it('bounds sockets per host and in all; a newcomer replaces the oldest idle one (its host\'s first), and is refused only when none is idle', async () => {
    const r = await rig({ total: 6, perHost: 4 });
    const a = [];
    for (let i = 0; i < 4; i++) a.push(await r.open('127.0.0.1'));
    expect(r.guard.size).toBe(4);
    // its host is full: the host's oldest goes
    a.push(await r.open('127.0.0.1'));
    await a[0].closed;
    expect(r.reports).toEqual([{ code: 'SP_ERR_TOO_MANY_CONNECTIONS', dropped: 1 }]);
    // another host fills the rest; one more from it finds every place taken: the oldest of all goes (a[1])
    const b = [await r.open('127.0.0.2'), await r.open('127.0.0.2')];
    expect(r.guard.size).toBe(6);
    b.push(await r.open('127.0.0.2'));
    await a[1].closed;
    expect(a.slice(2).every((c) => isOpen(c.client))).toBe(true);
    expect(b.every((c) => isOpen(c.client))).toBe(true);
    // once every socket has made a request, a newcomer has no place to take: it is refused
    for (const c of [...a.slice(2), ...b]) r.guard.engaged(c.served);
    const late = await r.open('127.0.0.3');
    await late.closed;
    expect(r.guard.size).toBe(6);
    expect([...a.slice(2), ...b].every((c) => isOpen(c.client))).toBe(true);
    // the first drop was said at once; the two since are held for the next line, and said at the close
    expect(r.reports).toHaveLength(1);
    r.guard.close();
    expect(r.reports).toEqual([{ code: 'SP_ERR_TOO_MANY_CONNECTIONS', dropped: 1 }, { code: 'SP_ERR_TOO_MANY_CONNECTIONS', dropped: 2 }]);
  });

  it('closes a socket that makes no request in time, and not one that did', async () => {
    const r = await rig({ total: 8, perHost: 8 }, 50);
    const busy = await r.open('127.0.0.1');
    r.guard.engaged(busy.served);
    const silent = await r.open('127.0.0.1');
    await silent.closed;
    expect(r.reports).toEqual([{ code: 'SP_ERR_UPGRADE_TIMEOUT', dropped: 1 }]);
    expect(r.guard.size).toBe(1);
    // the one that made a request is the server's to keep (a third connection's time runs out after the first's would have)
    const third = await r.open('127.0.0.1');
    await third.closed;
    expect(isOpen(busy.client)).toBe(true);
  });

  it('reads the process\'s open-file limit, and keeps half of it for sockets, half of that per host', () => {
    const tmp = tempDir();
    try {
      const limits = tmp.path('limits');
      writeFileSync(limits, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n');
      expect(openFileLimit(limits)).toBe(1024);
      writeFileSync(limits, 'Max open files            unlimited            unlimited            files\n');
      expect(openFileLimit(limits)).toBe(1024);
      expect(openFileLimit(tmp.path('absent'))).toBe(1024);
    } finally {
      tmp.remove();
    }
    expect(openFileLimit()).toBeGreaterThan(0);
    expect(socketBounds(1024)).toEqual({ total: 512, perHost: 256 });
    expect(socketBounds(10)).toEqual({ total: 16, perHost: 8 });
  });
});
