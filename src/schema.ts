import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/** One ajv instance for the whole process: schemas compile once. */
export const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, useDefaults: true, coerceTypes: false, ownProperties: true });

/** `/fragment/length` under root `journals[2]` reads `journals[2].fragment.length`. */
export function fieldPath(instancePath: string, root = ''): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = root;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(root)' : out;
}

/** Renders ajv's first error as one line naming the field: `fragment.length: must match pattern …`. */
export function describeAjvError(errors: ErrorObject[] | null | undefined, root = ''): string {
  // For anyOf, the branch errors say little; the schema's description says what is wanted.
  const any = errors?.find((x) => x.keyword === 'anyOf' && x.parentSchema?.description);
  if (any) return `${fieldPath(any.instancePath, root)}: must be ${any.parentSchema!.description}`;
  const e = errors?.[0];
  if (!e) return `${root || '(root)'}: invalid`;
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return `${fieldPath(`${e.instancePath}/${extra}`, root)}: unknown field`;
  }
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return `${fieldPath(`${e.instancePath}/${missing}`, root)}: is required`;
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ');
    return `${fieldPath(e.instancePath, root)}: must be one of ${allowed}`;
  }
  const hint = e.parentSchema?.description ? ` (${e.parentSchema.description})` : '';
  return `${fieldPath(e.instancePath, root)}: ${e.message ?? 'is invalid'}${hint}`;
}

export type { ValidateFunction };
