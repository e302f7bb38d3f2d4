import { relative } from 'node:path';
import { loadCatalog } from '../catalog/load.js';
import { prepareModules } from '../derive/typescript.js';
import { UsageError } from './args.js';
import type { Parsed } from './command.js';

/** `inlet generate --source FILE`: the catalog's TypeScript types, tsconfig and stub modules. */
export async function generate(args: Parsed): Promise<void> {
  const source = args.values.source;
  if (typeof source !== 'string') throw new UsageError('inlet generate: --source CATALOG is required (e.g. --source userDetails.flow.yaml)');
  const generated = await prepareModules(await loadCatalog(source));
  const shown = (p: string) => relative(process.cwd(), p) || p;
  const out = generated.written.map((p) => `wrote ${shown(p)}`);
  out.push(`${shown(generated.dir)}: types of ${generated.modules.length} TypeScript module${generated.modules.length === 1 ? '' : 's'}; import them from 'inlet/modules'`);
  process.stdout.write(out.join('\n') + '\n');
}
