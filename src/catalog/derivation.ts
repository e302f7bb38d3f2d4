import { parsePointer } from '../doc/json.js';
import { ajv } from '../schema.js';
import type { Path } from '../yaml.js';
import type { SchemaLoader } from './schema-bundle.js';
import type { SourceFile } from './source.js';
import type { CollectionSpec, DerivationSpec, LambdaSpec, TransformSpec } from './types.js';
import { selectorProblem, sourceSchema } from './partitions.js';

/** Flow fields of a derivation that inlet does not implement: named in an error rather than ignored. */
const UNSUPPORTED_DERIVATION = ['typescript', 'shards'];
const UNSUPPORTED_TRANSFORM = ['readDelay', 'priority', 'rollback'];

const lambdaSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['lambda'],
  properties: {
    lambda: {
      if: { type: 'string' },
      then: { const: 'typescript' },
      else: {
        type: 'object',
        additionalProperties: false,
        required: ['remote'],
        properties: { remote: { type: 'string', pattern: '^https?://' } },
        description: 'typescript, or { remote: http(s)://… }',
      },
    },
  },
} as const;


const derivationDefSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['transform'],
  properties: {
    register: {
      type: 'object',
      additionalProperties: false,
      properties: { schema: { anyOf: [{ type: 'string' }, { type: 'object' }, { type: 'boolean' }] }, initial: {} },
    },
    transform: {
      type: 'object',
      minProperties: 1,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['source'],
        properties: {
          source: sourceSchema,
          shuffle: {
            type: 'object',
            additionalProperties: false,
            required: ['key'],
            properties: { key: { type: 'array', minItems: 1, items: { type: 'string' } } },
          },
          update: lambdaSchema,
          publish: lambdaSchema,
          ...Object.fromEntries(UNSUPPORTED_TRANSFORM.map((f) => [f, {}])),
        },
      },
    },
    ...Object.fromEntries(UNSUPPORTED_DERIVATION.map((f) => [f, {}])),
  },
} as const;

interface DerivationDef {
  register?: { schema?: unknown; initial?: unknown };
  transform: Record<
    string,
    {
      source: { name: string; partitions?: TransformSpec['reads']['partitions'] };
      shuffle?: { key: string[] };
      update?: { lambda: 'typescript' | { remote: string } };
      publish?: { lambda: 'typescript' | { remote: string } };
      [unsupported: string]: unknown;
    }
  >;
  [unsupported: string]: unknown;
}

const validateDef = ajv.compile<DerivationDef>(derivationDefSchema);

/**
 * Checks the `derivation` of collection `name` (at `at` in `file`) as far as the file alone
 * allows: shape, unsupported Flow fields, pointers, the register schema. Sources are checked
 * against the whole catalog by `checkDerivationSources` once every file is loaded.
 * `module` is the `.flow.ts` beside `file`, used when a lambda is `typescript`.
 */
export async function checkDerivation(name: string, def: unknown, at: Path, file: SourceFile, schemas: SchemaLoader): Promise<DerivationSpec> {
  if (!validateDef(def)) throw file.invalid(at, def, validateDef);
  for (const f of UNSUPPORTED_DERIVATION) {
    if (f in def) throw file.error([...at, f], `${f} is a Flow field inlet does not support`);
  }
  const registerSchema = def.register?.schema ?? true;
  const register = {
    schema: await schemas.bundle(file, [...at, 'register', 'schema'], `${name}?register`, registerSchema === true ? {} : registerSchema),
    initial: def.register && 'initial' in def.register ? def.register.initial : null,
  };
  const transforms: TransformSpec[] = [];
  let typescript = false;
  const lambda = (l: { lambda: 'typescript' | { remote: string } } | undefined): LambdaSpec | undefined => {
    if (!l) return undefined;
    if (l.lambda === 'typescript') {
      typescript = true;
      return { typescript: true };
    }
    return { remote: l.lambda.remote };
  };
  for (const [tname, t] of Object.entries(def.transform)) {
    const where = [...at, 'transform', tname];
    if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(tname)) throw file.error(where, 'a transform name must be an identifier (its lambdas are methods <name>Update and <name>Publish)');
    for (const f of UNSUPPORTED_TRANSFORM) {
      if (f in t) throw file.error([...where, f], `${f} is a Flow field inlet does not support`);
    }
    const shuffle = t.shuffle?.key ?? [];
    for (const [i, ptr] of shuffle.entries()) {
      if (!ptr.startsWith('/')) throw file.error([...where, 'shuffle', 'key', i], 'must be a JSON pointer starting with /');
      try {
        parsePointer(ptr);
      } catch {
        throw file.error([...where, 'shuffle', 'key', i], 'must be a JSON pointer: write ~ in a name as ~0 and / as ~1');
      }
    }
    const partitions = t.source.partitions;
    const update = lambda(t.update);
    const publish = lambda(t.publish);
    transforms.push({
      name: tname,
      reads: { name: t.source.name, ...(partitions ? { partitions } : {}) },
      shuffle,
      ...(update ? { update } : {}),
      ...(publish ? { publish } : {}),
      source: file.where(where),
    });
  }
  const module = typescript ? file.path.replace(/\.(ya?ml|json)$/, '') + '.ts' : undefined;
  return { register, transforms, ...(module ? { module } : {}) };
}

/**
 * Checks every derivation's transforms against the loaded catalog: the source collection exists,
 * shuffle keys default to its key, and every transform's shuffle key has the same length and
 * the same inferred types (registers are shared across transforms by key). `errorAt(source,
 * path, problem)` makes an INVALID_CATALOG error at a transform's place.
 */
export function checkDerivationSources(
  collections: Map<string, CollectionSpec>,
  schemas: SchemaLoader,
  errorAt: (source: string, path: string, problem: string) => Error,
): void {
  for (const spec of collections.values()) {
    const d = spec.derivation;
    if (!d) continue;
    let first: { name: string; types: string[] } | undefined;
    for (const t of d.transforms) {
      const path = `collections."${spec.name}".derivation.transform.${t.name}`;
      const src = collections.get(t.reads.name);
      if (!src) throw errorAt(t.source, `${path}.source.name`, `no collection ${t.reads.name} in the catalog`);
      const bad = selectorProblem(t.reads.partitions, src);
      if (bad) throw errorAt(t.source, `${path}.source.partitions.${bad.path.join('.')}`, bad.problem);
      if (t.shuffle.length === 0) t.shuffle = [...src.key];
      const types = t.shuffle.map((ptr) => {
        const inferred = schemas.infer(src.schema, parsePointer(ptr));
        return inferred.types ? [...inferred.types].sort().join('|') : 'any';
      });
      if (!first) first = { name: t.name, types };
      else if (first.types.length !== types.length || first.types.some((x, i) => x !== types[i])) {
        throw errorAt(t.source, `${path}.shuffle`, `shuffle key types (${types.join(', ')}) differ from those of transform ${first.name} (${first.types.join(', ')})`);
      }
    }
  }
}
