import { createToken, parseAuthKeys, parseCapabilities } from '../broker/access/index.js';
import { InletError } from '../errors.js';
import { parseDuration } from '../units.js';
import { UsageError } from './args.js';
import type { Parsed } from './command.js';

/** `inlet token create`: signs a token with the first of the broker's keys and prints it. */
export async function createTokenCommand({ values }: Parsed): Promise<void> {
  const keysText = (values['auth-keys'] as string | undefined) ?? process.env.INLET_AUTH_KEYS;
  if (!keysText) throw new UsageError('token create: --auth-keys KEYS (or INLET_AUTH_KEYS) is required');
  if (values.cap === undefined) throw new UsageError('token create: --cap is required (e.g. --cap READ,APPEND)');
  const ttlMs = parseDuration((values.ttl as string | undefined) ?? '24h');
  if (!ttlMs) throw new InletError('INVALID_SPEC', `--ttl: must be a positive duration like 24h, got ${JSON.stringify(values.ttl)}`);
  const keys = parseAuthKeys(keysText, values['auth-keys'] !== undefined ? '--auth-keys' : 'INLET_AUTH_KEYS');
  const capabilities = parseCapabilities(values.cap as string);
  process.stdout.write(`${await createToken(keys, { capabilities, selector: (values.selector as string | undefined) ?? '', ttlMs })}\n`);
}
