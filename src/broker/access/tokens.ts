import { jwtVerify, SignJWT } from 'jose';
import { InletError } from '../../errors.js';
import { CAPABILITIES, type Capability } from '../../protocol/auth.js';
import { Selector } from '../../protocol/selectors.js';

/** A verified token: its capabilities over the journals its selector matches. */
export interface Claims {
  readonly capabilities: ReadonlySet<Capability>;
  readonly selector: Selector;
  /** Seconds since the epoch after which the token is refused. */
  readonly expiresAt: number;
}

/** The HMAC keys of a broker: the first signs, every one verifies (so keys can be rotated). */
export type AuthKeys = readonly Uint8Array[];

const ALGORITHM = 'HS256';

/**
 * Parses Gazette's key format: base64 HMAC keys separated by whitespace or commas.
 * Throws INVALID_SPEC naming `where` if there is no key or one is not base64 of at least 16 bytes.
 */
export function parseAuthKeys(text: string, where = '--auth-keys'): AuthKeys {
  const words = text.split(/[\s,]+/).filter((w) => w !== '');
  if (words.length === 0) throw new InletError('INVALID_SPEC', `${where}: no key given`);
  return words.map((word, i) => {
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(word) ? Buffer.from(word, 'base64') : Buffer.alloc(0);
    if (key.length < 16) {
      throw new InletError('INVALID_SPEC', `${where}: key ${i + 1} must be base64 of at least 16 bytes (e.g. openssl rand -base64 32)`);
    }
    return new Uint8Array(key);
  });
}

/** Parses `READ,APPEND`; throws INVALID_SPEC naming the unknown capability. */
export function parseCapabilities(text: string): Capability[] {
  const caps = text.split(',').map((c) => c.trim().toUpperCase()).filter((c) => c !== '');
  if (caps.length === 0) throw new InletError('INVALID_SPEC', `--cap: give one or more of ${CAPABILITIES.join(', ')}`);
  for (const c of caps) {
    if (!(CAPABILITIES as readonly string[]).includes(c)) {
      throw new InletError('INVALID_SPEC', `--cap: unknown capability ${JSON.stringify(c)} (expected ${CAPABILITIES.join(', ')})`);
    }
  }
  return caps as Capability[];
}

/** Signs a token with the first key. `selector` is a label selector; blank selects every journal. */
export async function createToken(keys: AuthKeys, opts: { capabilities: Capability[]; selector: string; ttlMs: number }): Promise<string> {
  Selector.parse(opts.selector);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ cap: opts.capabilities, sel: opts.selector })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + Math.max(1, Math.round(opts.ttlMs / 1000)))
    .sign(keys[0]!);
}

/**
 * Verifies a token against each key in turn. Throws UNAUTHORIZED if no key verifies it, it has
 * expired, or its claims are malformed; the message says which, never echoing the token.
 */
export async function verifyToken(keys: AuthKeys, token: string): Promise<Claims> {
  let lastError: unknown;
  for (const key of keys) {
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: [ALGORITHM], requiredClaims: ['exp'] });
      return claimsOf(payload);
    } catch (err) {
      lastError = err;
      // Only a bad signature may mean another key signed it; anything else is final.
      if ((err as { code?: string }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') break;
    }
  }
  if (lastError instanceof InletError) throw lastError;
  const code = (lastError as { code?: string }).code;
  const why = code === 'ERR_JWT_EXPIRED' ? 'the token has expired' : code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'the token is not signed by a key of this broker' : 'the token is malformed';
  throw new InletError('UNAUTHORIZED', why);
}

function claimsOf(payload: Record<string, unknown>): Claims {
  const { cap, sel, exp } = payload;
  if (!Array.isArray(cap) || !cap.every((c) => (CAPABILITIES as readonly unknown[]).includes(c)) || typeof sel !== 'string') {
    throw new InletError('UNAUTHORIZED', 'the token lacks valid cap and sel claims');
  }
  let selector: Selector;
  try {
    selector = Selector.parse(sel);
  } catch {
    throw new InletError('UNAUTHORIZED', 'the token lacks valid cap and sel claims');
  }
  return { capabilities: new Set(cap as Capability[]), selector, expiresAt: exp as number };
}
