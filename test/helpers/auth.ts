import { randomBytes } from 'node:crypto';
import { createToken, parseAuthKeys } from '../../src/broker/access/index.js';
import type { Capability } from '../../src/protocol/auth.js';

/** A fresh base64 HMAC key, as `openssl rand -base64 32` prints. */
export function newKey(): string {
  return randomBytes(32).toString('base64');
}

/** Signs a token with the first of `keys` (Gazette's format: whitespace- or comma-separated). */
export function tokenFor(keys: string, capabilities: Capability[], selector = '', ttlMs = 60_000): Promise<string> {
  return createToken(parseAuthKeys(keys), { capabilities, selector, ttlMs });
}

/** Authorization header of a bearer token. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
