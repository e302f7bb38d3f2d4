import { createToken, parseAuthKeys, parseCapabilities } from '../broker/access/index.js';
import { InletError } from '../errors.js';
import { parseDuration } from '../units.js';
import { parse, UsageError } from './args.js';

const HELP = `Usage:
  inlet token create --auth-keys KEYS --cap CAPS [--selector SELECTOR] [--ttl DURATION]

Prints a bearer token for a broker run with the same --auth-keys (default $INLET_AUTH_KEYS).
  --cap       comma-separated capabilities: LIST, READ, APPEND, APPLY, DELETE, INGEST
  --selector  label selector of the journals the token covers, e.g. 'app=chat' or 'name=logs/web'
              (default: every journal); collections are matched by inlet.dev/collection=NAME
  --ttl       how long the token is valid (default 24h)
`;

/** `inlet token create`: signs a token with the first of the broker's keys. */
export async function token(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') return void process.stdout.write(HELP);
  if (sub !== 'create') throw new UsageError(`unknown token command ${JSON.stringify(sub)} (expected create)`);
  const { values } = parse(rest, {
    'auth-keys': { type: 'string' },
    cap: { type: 'string' },
    selector: { type: 'string', short: 'l' },
    ttl: { type: 'string' },
  }, false);
  const keysText = (values['auth-keys'] as string | undefined) ?? process.env.INLET_AUTH_KEYS;
  if (!keysText) throw new UsageError('token create: --auth-keys KEYS (or INLET_AUTH_KEYS) is required');
  if (values.cap === undefined) throw new UsageError('token create: --cap is required (e.g. --cap READ,APPEND)');
  const ttlMs = parseDuration((values.ttl as string | undefined) ?? '24h');
  if (!ttlMs) throw new InletError('INVALID_SPEC', `--ttl: must be a positive duration like 24h, got ${JSON.stringify(values.ttl)}`);
  const keys = parseAuthKeys(keysText, values['auth-keys'] !== undefined ? '--auth-keys' : 'INLET_AUTH_KEYS');
  const capabilities = parseCapabilities(values.cap as string);
  process.stdout.write(`${await createToken(keys, { capabilities, selector: (values.selector as string | undefined) ?? '', ttlMs })}\n`);
}
