import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InletError } from '../../errors.js';
import { mediaType } from '../../journal/spec.js';
import type { Capability, RequestGuard, Target } from '../../protocol/auth.js';
import { BrowserPolicy } from './browser.js';
import { ruleFor, type RouteRule } from './rules.js';
import { verifyToken, type AuthKeys, type Claims } from './tokens.js';

export { createToken, parseAuthKeys, parseCapabilities } from './tokens.js';

interface Access {
  /** The verified token, or undefined when the broker runs without auth. */
  readonly claims: Claims | undefined;
  readonly capability: Capability | 'open';
}

declare module 'fastify' {
  interface FastifyRequest {
    access: Access | null;
  }
}

const TOKEN_CACHE_SIZE = 1024;

/**
 * Guards every request before its body is read: the browser policy (Host, Origin), the route's
 * content types (415), then with `authKeys` a bearer token (401) granting the route's capability
 * (403). Routes then call `authorize` or `visible` with the journals they act on, since a
 * token's selector scopes each capability to the journals whose labels it matches.
 */
export function accessControl(app: FastifyInstance, config: { host: string; allowedHosts: readonly string[]; corsOrigins: readonly string[]; authKeys?: AuthKeys }): void {
  const browser = new BrowserPolicy(config);
  const keys = config.authKeys;
  // Verifying a JWT costs more than a small append: remember tokens already verified.
  const verified = new Map<string, Claims>();

  app.decorateRequest('access', null);
  // A callback hook, not an async one: a promise and a microtask per request saved on the hot path.
  app.addHook('onRequest', (req, reply, done) => {
    let rule: ReturnType<typeof ruleFor>;
    try {
      browser.check(req, reply);
      const url = req.routeOptions.url;
      if (url === undefined) return done(); // the not-found handler answers 404
      rule = ruleFor(req.method, url);
      if (rule) checkContentType(req, rule);
      if (!keys) {
        req.access = { claims: undefined, capability: rule?.capability ?? 'open' };
        return done();
      }
      if (rule?.capability === 'open') {
        req.access = { claims: undefined, capability: 'open' };
        return done();
      }
    } catch (err) {
      return done(err as Error);
    }
    const capability = rule?.capability;
    authenticate(req).then((claims) => {
      const url = req.routeOptions.url;
      if (capability === undefined) throw new InletError('FORBIDDEN', `${req.method} ${url} is not open to tokens`);
      if (!claims.capabilities.has(capability)) {
        throw new InletError('FORBIDDEN', `the token does not grant ${capability}, which ${req.method} ${url} needs`);
      }
      req.access = { claims, capability };
    }).then(() => done(), (err: Error) => done(err));
  });
  app.options('*', async (req, reply) => browser.preflight(req, reply));

  async function authenticate(req: FastifyRequest): Promise<Claims> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new InletError('UNAUTHORIZED', 'this broker requires a bearer token (Authorization: Bearer …; inlet token create)');
    const token = m[1]!;
    let claims = verified.get(token);
    if (claims === undefined) {
      claims = await verifyToken(keys!, token);
      if (verified.size >= TOKEN_CACHE_SIZE) verified.clear();
      verified.set(token, claims);
    }
    if (claims.expiresAt * 1000 <= Date.now()) {
      verified.delete(token);
      throw new InletError('UNAUTHORIZED', 'the token has expired');
    }
    return claims;
  }
}

/**
 * Throws FORBIDDEN unless the request's token grants `capability` (by default its route's) on
 * `target`: the token's selector must match the target's labels plus `name`.
 */
export function authorize(req: FastifyRequest, target: Target, capability?: Capability): void {
  if (!permits(req, target, capability)) {
    const cap = capability ?? accessOf(req).capability;
    throw new InletError('FORBIDDEN', `the token does not grant ${cap} on ${target.name} (its labels are outside the token's selector)`);
  }
}

/** The targets the request's token may act on with its route's capability; all of them without auth. */
export function visible<T>(req: FastifyRequest, items: readonly T[], targetOf: (item: T) => Target): T[] {
  return items.filter((item) => permits(req, targetOf(item)));
}

/** `authorize` and `visible`, for plugins of other layers. */
export const requestGuard: RequestGuard<FastifyRequest> = { authorize, visible };

function permits(req: FastifyRequest, target: Target, capability?: Capability): boolean {
  const { claims, capability: routeCap } = accessOf(req);
  if (claims === undefined) return true;
  const cap = capability ?? routeCap;
  return cap !== 'open' && claims.capabilities.has(cap) && claims.selector.matches({ ...target.labels, name: target.name });
}

function accessOf(req: FastifyRequest): Access {
  // A route reached without the hook would be served unguarded: fail loudly instead.
  if (req.access === null) throw new InletError('INTERNAL', `${req.method} ${req.url}: access control did not run`);
  return req.access;
}

/** Bodies of methods that carry none are never read, whatever their declared type. */
const BODILESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

function checkContentType(req: FastifyRequest, rule: RouteRule): void {
  if (rule.body === 'journal' || BODILESS.has(req.method)) return;
  const raw = req.headers['content-type'];
  const type = raw === undefined ? undefined : mediaType(raw);
  const allowed = rule.body === 'none' ? ['application/json'] : rule.body;
  if (type === undefined ? rule.body === 'none' : allowed.includes(type)) return;
  throw new InletError(
    'UNSUPPORTED_MEDIA_TYPE',
    `${req.method} ${req.routeOptions.url} takes ${rule.body === 'none' ? 'no body' : allowed.join(' or ')}, not ${type ?? 'a body without Content-Type'}`,
  );
}
