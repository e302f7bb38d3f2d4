import YAML from 'yaml';
import { InletError } from '../errors.js';
import type { JournalSpecInput } from './spec.js';

/**
 * The journals file of `inlet journals apply -f`:
 *
 *     defaults:            # optional; merged under every journal below
 *       labels: { team: logistics }
 *       fragment: { codec: gzip }
 *     journals:
 *       - name: shipments/carrier=UPS/pivot=00
 *         labels: { carrier: UPS }
 *
 * Returns the journals with defaults merged (labels and fragment settings merge per key).
 */
export function parseJournalsFile(text: string, file: string): JournalSpecInput[] {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new InletError('INVALID_SPEC', `${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InletError('INVALID_SPEC', `${file}: expected a mapping with a journals list`);
  }
  const { defaults = {}, journals, ...rest } = doc as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new InletError('INVALID_SPEC', `${file}: ${unknown}: unknown field (expected defaults, journals)`);
  if (!Array.isArray(journals)) throw new InletError('INVALID_SPEC', `${file}: journals: must be a list`);
  if (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults)) {
    throw new InletError('INVALID_SPEC', `${file}: defaults: must be a mapping`);
  }
  const d = defaults as Partial<JournalSpecInput>;
  return journals.map((j, i) => {
    if (!j || typeof j !== 'object' || Array.isArray(j)) {
      throw new InletError('INVALID_SPEC', `${file}: journals[${i}]: must be a mapping`);
    }
    const spec = j as JournalSpecInput;
    return {
      ...d,
      ...spec,
      ...(d.labels || spec.labels ? { labels: { ...d.labels, ...spec.labels } } : {}),
      ...(d.fragment || spec.fragment ? { fragment: { ...d.fragment, ...spec.fragment } } : {}),
    } as JournalSpecInput;
  });
}
