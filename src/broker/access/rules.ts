import type { Capability } from '../../protocol/auth.js';

/** What one route needs: a capability (or none) and the content types of the bodies it takes. */
export interface RouteRule {
  /** The capability a token must grant; `open` routes need no token. */
  readonly capability: Capability | 'open';
  /**
   * `journal`: the journal declares its own content type (checked by the append path);
   * `none`: no body, so no content type but `application/json`; a list: exactly these media types.
   */
  readonly body: 'journal' | 'none' | readonly string[];
}

const NONE = { body: 'none' } as const;

/**
 * Every route of the broker, by `METHOD url-pattern`. A route missing here is refused when auth
 * is on, so a new route cannot be served unguarded by accident.
 */
const RULES: Readonly<Record<string, RouteRule>> = {
  'GET /healthz': { capability: 'open', ...NONE },
  'OPTIONS *': { capability: 'open', ...NONE },
  'GET /metrics': { capability: 'LIST', ...NONE },
  'GET /v1/journals': { capability: 'LIST', ...NONE },
  'POST /v1/journals/apply': { capability: 'APPLY', body: ['application/json', 'application/yaml'] },
  'GET /v1/fragments': { capability: 'READ', ...NONE },
  'POST /v1/fragments/flush': { capability: 'APPEND', ...NONE },
  'POST /v1/fragments/prune': { capability: 'DELETE', ...NONE },
  'GET /v1/collections': { capability: 'LIST', ...NONE },
  'GET /v1/derivations': { capability: 'LIST', ...NONE },
  'GET /v1/materializations': { capability: 'LIST', ...NONE },
  'POST /ingest': { capability: 'INGEST', body: ['application/json'] },
  'PUT /v1/stream/*': { capability: 'APPLY', body: 'journal' },
  'POST /v1/stream/*': { capability: 'APPEND', body: 'journal' },
  'GET /v1/stream/*': { capability: 'READ', ...NONE },
  'HEAD /v1/stream/*': { capability: 'READ', ...NONE },
  'DELETE /v1/stream/*': { capability: 'DELETE', ...NONE },
};

/** The rule of a route, or undefined for a route nobody wrote one for. */
export function ruleFor(method: string, url: string): RouteRule | undefined {
  return RULES[`${method} ${url}`];
}
