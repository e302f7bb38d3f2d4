import type { CollectionSpec, PartitionSelector } from './types.js';

/**
 * The schema of a partition selector, as sources of transforms and materializations and verify
 * steps of tests declare it: `{ include: { field: [values…] }, exclude: { field: [values…] } }`.
 */
export const partitionSelectorSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(
    ['include', 'exclude'].map((side) => [
      side,
      { type: 'object', additionalProperties: { type: 'array', minItems: 1, items: { anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'boolean' }] } } },
    ]),
  ),
} as const;

/** The schema of a transform's or materialization's `source`: a collection, and optionally which of its partitions. */
export const sourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    partitions: partitionSelectorSchema,
  },
} as const;

/** The first field of `selector` that is not a partition field of `collection`: its path under the selector, and why. */
export function selectorProblem(selector: PartitionSelector | undefined, collection: CollectionSpec): { path: string[]; problem: string } | undefined {
  for (const side of ['include', 'exclude'] as const) {
    for (const field of Object.keys(selector?.[side] ?? {})) {
      if (!collection.partitionFields.includes(field)) {
        const fields = collection.partitionFields.length > 0 ? `its partition fields: ${collection.partitionFields.join(', ')}` : 'it has no partition fields';
        return { path: [side, field], problem: `${field} is not a partition field of ${collection.name} (${fields})` };
      }
    }
  }
  return undefined;
}
