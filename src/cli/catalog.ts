import { loadCatalog } from '../catalog/load.js';
import type { CollectionSpec } from '../catalog/types.js';
import { compileCatalog } from '../collections/collection.js';
import { parse, UsageError } from './args.js';

const HELP = `Usage: inlet catalog check FILE

Loads a *.flow.yaml catalog with everything it imports and checks it as the broker would:
unknown fields, collection names, key and projection pointers, that keys and partition fields
are required by the schema (partitions typed string, integer or boolean), fragment settings.
Prints each collection's key, partition fields and projections; exits 2 on the first problem.
`;

/** `inlet catalog check FILE`. */
export async function catalog(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') return void process.stdout.write(HELP);
  if (sub !== 'check') throw new UsageError(`unknown catalog command ${JSON.stringify(sub)} (expected check)`);
  const { values, positionals } = parse(rest, { help: { type: 'boolean', short: 'h' } });
  if (values.help) return void process.stdout.write(HELP);
  if (positionals.length !== 1) throw new UsageError('catalog check: needs exactly one catalog FILE');
  const loaded = await loadCatalog(positionals[0]!);
  compileCatalog(loaded);
  const out = [...loaded.collections.values()].map(describe);
  const n = loaded.collections.size;
  out.push(`ok: ${n} collection${n === 1 ? '' : 's'} from ${loaded.files.length} file${loaded.files.length === 1 ? '' : 's'}`);
  process.stdout.write(out.join('\n') + '\n');
}

function describe(c: CollectionSpec): string {
  const projections = Object.entries(c.projections).map(([f, p]) => `${f}: ${p.location}${p.partition ? ' (partition)' : ''}`);
  return [
    `${c.name}  (${c.source})`,
    `  key          ${c.key.join(', ')}`,
    `  partitions   ${c.partitionFields.join(', ') || '-'}`,
    `  projections  ${projections.join(', ') || '-'}`,
  ].join('\n');
}
