import net from 'node:net';

/** A TCP port free on 127.0.0.1 right now (the OS picks it), for a server a test or bench starts itself. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
