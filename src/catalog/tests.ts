import { compareByKeys } from '../doc/json.js';
import { CollectionSchema } from '../doc/schema.js';
import { ajv } from '../schema.js';
import { displayPath, type SourceFile } from './source.js';
import type { CollectionSpec, PartitionSelector, TestSpec, TestStep } from './types.js';
import { partitionSelectorSchema, selectorProblem } from './partitions.js';

/** The `tests` of one catalog file, as written, to be checked once every collection is loaded. */
export interface PendingTests {
  readonly file: SourceFile;
  readonly tests: Record<string, unknown>;
}

const stepSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    ingest: {
      type: 'object',
      additionalProperties: false,
      required: ['collection', 'documents'],
      properties: { collection: { type: 'string' }, documents: { type: 'array', minItems: 1 }, description: { type: 'string' } },
    },
    verify: {
      type: 'object',
      additionalProperties: false,
      required: ['collection', 'documents'],
      properties: {
        collection: { type: 'string' },
        documents: { type: 'array', items: { type: 'object' } },
        partitions: partitionSelectorSchema,
        description: { type: 'string' },
      },
    },
  },
  description: 'a step { ingest: { collection, documents } } or { verify: { collection, documents } }',
} as const;
const testSchema = { type: 'array', minItems: 1, items: stepSchema } as const;

const validateTest = ajv.compile<unknown[]>(testSchema);

type RawStep = { ingest: { collection: string; documents: unknown[] } } | { verify: { collection: string; documents: unknown[]; partitions?: PartitionSelector } };

/**
 * Checks the `tests` of catalog files against the loaded collections and returns them as
 * TestSpecs, in the order the files declare them (YAML anchors and aliases are resolved by
 * the YAML loader). Throws INVALID_CATALOG at `file:line tests."name"[i]…` for: a malformed
 * step, a test name used twice, an unknown collection, an ingested document that its
 * collection's schema refuses, a verify step whose expected documents are not in the order of
 * the collection's key (the order its actual documents are compared in), or a partition
 * selector naming a field that is not a partition of the collection.
 */
export function checkTests(pending: readonly PendingTests[], collections: ReadonlyMap<string, CollectionSpec>): TestSpec[] {
  const out: TestSpec[] = [];
  const schemas = new Map<string, CollectionSchema>();
  const schemaOf = (c: CollectionSpec) => schemas.get(c.name) ?? schemas.set(c.name, CollectionSchema.compile(c.schema)).get(c.name)!;
  const seen = new Map<string, string>();

  for (const { file, tests } of pending) {
    for (const [name, raw] of Object.entries(tests)) {
      const at = ['tests', name];
      const prior = seen.get(name);
      if (prior) throw file.error(at, `test ${JSON.stringify(name)} is already declared at ${prior}`);
      seen.set(name, file.where(at));
      if (!validateTest(raw)) throw file.invalid(at, raw, validateTest);

      const steps: TestStep[] = (raw as RawStep[]).map((step, i) => {
        const kind = 'ingest' in step ? 'ingest' : 'verify';
        const body = 'ingest' in step ? step.ingest : step.verify;
        const where = [...at, i, kind];
        const c = collections.get(body.collection);
        if (!c) throw file.error([...where, 'collection'], `no collection ${JSON.stringify(body.collection)} in the catalog`);
        if ('ingest' in step) {
          body.documents.forEach((doc, j) => {
            const why = schemaOf(c).validate(doc);
            if (why) throw file.error([...where, 'documents', j], `not a valid document of ${c.name}: ${why}`);
          });
          return { ingest: { collection: c.name, documents: body.documents }, source: file.where(where) };
        }
        for (let j = 1; j < body.documents.length; j++) {
          if (compareByKeys(body.documents[j - 1], body.documents[j], c.key) > 0) {
            throw file.error([...where, 'documents', j], `expected documents must be in the order of the key of ${c.name} [${c.key.join(', ')}]: this one sorts before the one above it`);
          }
        }
        const partitions = 'verify' in step ? step.verify.partitions : undefined;
        const bad = selectorProblem(partitions, c);
        if (bad) throw file.error([...where, 'partitions', ...bad.path], bad.problem);
        return { verify: { collection: c.name, documents: body.documents, ...(partitions ? { partitions } : {}) }, source: file.where(where) };
      });
      out.push({ name, file: displayPath(file.path), steps });
    }
  }
  return out;
}
