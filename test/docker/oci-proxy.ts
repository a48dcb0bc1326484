/**
 * A counting HTTP relay between a client and the real registry, on 127.0.0.1: it forwards every
 * request unchanged and records method, path, status and request body bytes, so tests can say what
 * crossed the wire (and cut a push at a chosen request) without trusting the client's own count.
 */
import http from 'node:http';
import type net from 'node:net';

export interface Seen {
  method: string;
  url: string;
  status: number;
  bodyBytes: number;
}

export interface Proxy {
  port: number;
  seen: Seen[];
  /** Called before each request is forwarded: 'drop' cuts the connection, 'answered' means it wrote the response itself. */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => 'drop' | 'answered' | undefined;
  bodyBytes(): number;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const p: Proxy = {
    port: 0,
    seen: [],
    bodyBytes: () => p.seen.reduce((n, s) => n + s.bodyBytes, 0),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  const server = http.createServer((req, res) => {
    const verdict = p.intercept?.(req, res);
    if (verdict === 'drop') {
      req.socket.destroy();
      return;
    }
    if (verdict === 'answered') {
      req.resume();
      return;
    }
    const rec: Seen = { method: req.method!, url: req.url!, status: 0, bodyBytes: 0 };
    p.seen.push(rec);
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      rec.status = ur.statusCode ?? 0;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.on('data', (c: Buffer) => (rec.bodyBytes += c.length));
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  p.port = (server.address() as net.AddressInfo).port;
  return p;
}
