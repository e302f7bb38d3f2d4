import { loadCatalog } from '../catalog/load.js';
import type { CollectionSpec } from '../catalog/types.js';
import { compileCatalog } from '../collections/collection.js';
import type { Parsed } from './command.js';

/** `inlet catalog check FILE`: loads and compiles a catalog, then summarizes its collections. */
export async function check(args: Parsed): Promise<void> {
  const loaded = await loadCatalog(args.positionals[0]!);
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
