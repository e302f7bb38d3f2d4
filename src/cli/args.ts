import { BrokerClient, DEFAULT_BROKER } from '../client/broker-client.js';
import { InletError } from '../errors.js';

/** Exit code for bad flags or config, as CLIs conventionally use. */
export const USAGE_EXIT = 2;

/** Bad flags or arguments: one line, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Reads an integer flag; throws a UsageError naming it. */
export function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`${flag}: must be an integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Prints an error the way every command does and picks the exit code. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return USAGE_EXIT;
  if (err instanceof InletError && ['INVALID_SPEC', 'INVALID_SELECTOR', 'INVALID_CATALOG', 'INVALID_SCHEMA'].includes(err.code)) return USAGE_EXIT;
  return 1;
}

/**
 * The client of the broker named by --broker, else $INLET_BROKER, else the default.
 * @throws UsageError when the URL has no http:// or https:// scheme (`127.0.0.1:8080` would be read as one).
 */
export function brokerClient(values: Readonly<Record<string, unknown>>): BrokerClient {
  const url = (values.broker as string | undefined) ?? (process.env.INLET_BROKER || DEFAULT_BROKER);
  if (!/^https?:\/\/[^/]/.test(url)) {
    const from = values.broker !== undefined ? '--broker' : 'INLET_BROKER';
    throw new UsageError(`${from}: ${JSON.stringify(url)} needs a scheme, e.g. http://${url.replace(/^[a-z]+:\/*/i, '')}`);
  }
  return new BrokerClient(url, { token: values.token as string | undefined });
}
