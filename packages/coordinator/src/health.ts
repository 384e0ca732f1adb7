/**
 * GET /healthz on the coordinator's port, for container health checks and
 * Kubernetes probes: 200 and {"status":"ok"} while the coordinator serves. It
 * needs no token and tells nothing of the run (no token, path, address or
 * figure); every other request goes on to the dashboard, or is told to upgrade.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { upgradeRequired } from '@shardprop/protocol';
import { COMMON_HEADERS, reply } from './dashboard/http.js';

export const HEALTH_PATH = '/healthz';
const BODY = Buffer.from('{"status":"ok"}\n');

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** `next` (the dashboard's handler, if any) with /healthz answered first. */
export function withHealth(next: Handler = upgradeRequired): Handler {
  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== HEALTH_PATH) return next(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return reply(res, 405, 'method not allowed');
    }
    res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(req.method === 'HEAD' ? undefined : BODY);
  };
}
