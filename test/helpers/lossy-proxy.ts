import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';

/**
 * A proxy in front of the broker at `url` that forwards the first append but drops the connection
 * instead of answering it (after `beforeDrop`, when given): an answer lost on the way back.
 * Every other request passes through. Returns the proxy's URL; it closes at the test's end.
 */
export async function lossyProxy(t: ExecutionContext, url: string, beforeDrop?: () => Promise<unknown>): Promise<string> {
  let dropped = 0;
  const proxy: Server = createServer((req, res) => {
    const up = httpRequest(`${url}${req.url}`, { method: req.method, headers: req.headers }, (upRes) => {
      if (req.method === 'POST' && req.url!.startsWith('/v1/stream/') && dropped++ === 0) {
        upRes.resume();
        upRes.on('end', () => {
          void Promise.resolve(beforeDrop?.()).then(() => req.socket.destroy());
        });
        return;
      }
      res.writeHead(upRes.statusCode!, upRes.headers);
      upRes.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => proxy.close(() => r())));
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}
