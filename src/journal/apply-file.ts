import { InletError } from '../errors.js';
import { renderPath, YamlText, type Path } from '../yaml.js';
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
 * Returns the journals with defaults merged (labels and fragment settings merge per key), each
 * with `where` it was written (`line 7 journals[2]`), to prefix errors about its fields.
 * Throws INVALID_SPEC naming the line of a problem with the file's structure. (The broker
 * parses the file from a request body: the client, which knows the file's name, prefixes it.)
 */
export function parseJournalsFile(text: string): { input: JournalSpecInput; where: string }[] {
  const lineOf = (line: number | undefined) => (line === undefined ? 'the journals file' : `line ${line}`);
  const yaml = YamlText.parse(text, (line, why) => new InletError('INVALID_SPEC', `${lineOf(line)}: not valid YAML: ${why}`));
  const doc = yaml.value;
  const at = (path: Path) => `${lineOf(yaml.lineOf(path))}${path.length ? ` ${renderPath(path)}` : ''}`;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InletError('INVALID_SPEC', `${at([])}: expected a mapping with a journals list`);
  }
  const { defaults = {}, journals, ...rest } = doc as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new InletError('INVALID_SPEC', `${at([unknown])}: unknown field (expected defaults, journals)`);
  if (!Array.isArray(journals)) throw new InletError('INVALID_SPEC', `${at(['journals'])}: must be a list`);
  if (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults)) {
    throw new InletError('INVALID_SPEC', `${at(['defaults'])}: must be a mapping`);
  }
  const d = defaults as Partial<JournalSpecInput>;
  return journals.map((j, i) => {
    if (!j || typeof j !== 'object' || Array.isArray(j)) {
      throw new InletError('INVALID_SPEC', `${at(['journals', i])}: must be a mapping`);
    }
    const spec = j as JournalSpecInput;
    const input = {
      ...d,
      ...spec,
      ...(d.labels || spec.labels ? { labels: { ...d.labels, ...spec.labels } } : {}),
      ...(d.fragment || spec.fragment ? { fragment: { ...d.fragment, ...spec.fragment } } : {}),
    } as JournalSpecInput;
    return { input, where: at(['journals', i]) };
  });
}
