/**
 * A token service for the real registry's `auth: token` mode, on 127.0.0.1: it checks Basic
 * credentials and answers with an RS256 JWT carrying the requested repository scope, its certificate
 * in the x5c header. docker-registry verifies the signature against the rootcertbundle the test
 * gives it, the issuer, the audience (service) and the granted actions: that part is the real one.
 */
import { spawnSync } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';

export interface TokenService {
  realm: string;
  certFile: string;
  issuer: string;
  service: string;
  requests: number;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenService(dir: string, user: string, password: string): Promise<TokenService> {
  const key = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '1', '-subj', '/CN=nbdforge-test-token'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const keyPem = await fs.readFile(key, 'utf8');
  const der = new X509Certificate(await fs.readFile(certFile)).raw;
  const svc: TokenService = { realm: '', certFile, issuer: 'nbdforge-test-issuer', service: 'nbdforge-test', requests: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    svc.requests++;
    const url = new URL(req.url!, 'http://x');
    const want = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    if (req.headers.authorization !== want) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const access = url.searchParams.getAll('scope').flatMap((s) => {
      const [type, name, actions] = s.split(':');
      return type === 'repository' ? [{ type, name, actions: actions.split(',') }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: svc.issuer, sub: user, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const sig = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(keyPem);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${b64url(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  svc.realm = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`;
  svc.close = () => new Promise((res) => server.close(() => res()));
  return svc;
}
