import { networkInterfaces, hostname } from 'node:os';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InletError } from '../../errors.js';

const ALLOW_HEADERS = [
  'content-type', 'authorization', 'if-none-match', 'stream-seq', 'stream-ttl', 'stream-expires-at', 'stream-closed',
  'producer-id', 'producer-epoch', 'producer-seq', 'stream-forked-from', 'stream-fork-offset', 'stream-fork-sub-offset',
  'inlet-expect-offset',
].join(', ');
const EXPOSE_HEADERS = [
  'stream-next-offset', 'stream-cursor', 'stream-up-to-date', 'stream-closed', 'stream-ttl', 'stream-expires-at',
  'producer-epoch', 'producer-seq', 'producer-expected-seq', 'producer-received-seq', 'etag', 'location', 'content-type',
  'inlet-append-begin', 'inlet-append-end',
].join(', ');
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

/**
 * What a web browser may do with this broker, whatever the auth setting.
 *
 * - **Host**: a request whose `Host` is not one of the broker's names (its listen host,
 *   localhost, loopback addresses, the configured `allowedHosts`; with a wildcard listen host,
 *   this machine's name and interface addresses) is refused with HOST_NOT_ALLOWED, so a page
 *   that rebinds its DNS name to 127.0.0.1 cannot reach the broker.
 * - **Origin**: a page from an origin of `corsOrigins` may do anything its token allows. Other
 *   pages may only read, and only when the broker listens on loopback; their mutating requests
 *   (which browsers send without a preflight when they look like forms) are refused with
 *   ORIGIN_NOT_ALLOWED before they do anything.
 */
export class BrowserPolicy {
  private readonly hosts: ReadonlySet<string>;
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;
  private readonly loopback: boolean;

  constructor(config: { host: string; allowedHosts: readonly string[]; corsOrigins: readonly string[] }) {
    const listen = stripBrackets(config.host.toLowerCase());
    const hosts = new Set([listen, ...LOOPBACK, ...config.allowedHosts.map((h) => stripBrackets(h))]);
    if (listen === '0.0.0.0' || listen === '::') {
      hosts.add(hostname().toLowerCase());
      for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) hosts.add(a.address.toLowerCase());
    }
    this.hosts = hosts;
    this.anyOrigin = config.corsOrigins.includes('*');
    this.origins = new Set(config.corsOrigins);
    this.loopback = listen === 'localhost' || listen === '::1' || listen.startsWith('127.');
  }

  /** Refuses foreign hosts and origins; sets the CORS headers of an accepted browser request. */
  check(req: FastifyRequest, reply: FastifyReply): void {
    const host = req.headers.host;
    // HTTP/1.0 clients may omit Host; browsers always send it.
    if (host !== undefined && !this.hosts.has(hostOf(host))) {
      throw new InletError('HOST_NOT_ALLOWED', `Host ${JSON.stringify(host.slice(0, 100))} is not a name of this broker (add it with --allowed-hosts)`);
    }
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (this.anyOrigin || this.origins.has(origin) || sameOrigin(origin, host)) {
      reply.headers({ 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': EXPOSE_HEADERS });
      return;
    }
    if (!READ_METHODS.has(req.method)) {
      throw new InletError('ORIGIN_NOT_ALLOWED', `pages from ${JSON.stringify(origin.slice(0, 100))} may not ${req.method} here (add the origin with --cors-origins)`);
    }
    if (this.loopback) reply.headers({ 'access-control-allow-origin': '*', 'access-control-expose-headers': EXPOSE_HEADERS });
  }

  /** Answers a CORS preflight: every method for allowed origins, reads only for others on loopback. */
  preflight(req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && (this.anyOrigin || this.origins.has(origin) || sameOrigin(origin, req.headers.host));
    if (allowed || this.loopback) {
      reply
        .header('access-control-allow-methods', allowed ? 'GET, POST, PUT, DELETE, HEAD, OPTIONS' : 'GET, HEAD, OPTIONS')
        .header('access-control-allow-headers', ALLOW_HEADERS)
        .header('access-control-max-age', '86400');
    }
    return reply.code(204).send();
  }
}

/** `Host: [::1]:8080` → `::1`; `Host: Example.com.` → `example.com`. */
function hostOf(host: string): string {
  const h = host.toLowerCase().trim();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
