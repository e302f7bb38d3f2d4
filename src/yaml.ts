import YAML, { isAlias, isMap, isScalar, isSeq, LineCounter, type Node } from 'yaml';

/** A location in a parsed document: map keys and sequence indices from its root. */
export type Path = readonly (string | number)[];

/** `['collections', 'acme/shipments', 'key', 0]` reads `collections."acme/shipments".key[0]`. */
export function renderPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `${out === '' ? '' : '.'}${JSON.stringify(seg)}`;
  }
  return out;
}

/**
 * The one YAML loader: a YAML (or JSON) text, parsed, that can say on which line a path lies,
 * so every file inlet reads (catalogs, schemas, journals files, config) names the line of a
 * problem.
 */
export class YamlText {
  private constructor(
    readonly value: unknown,
    private readonly doc: YAML.Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Parses `text`. For text that is not valid YAML, throws what `invalid` makes of the line
   * of the first error and its message (one line, without yaml's position suffix).
   */
  static parse(text: string, invalid: (line: number | undefined, why: string) => Error): YamlText {
    const lines = new LineCounter();
    const doc = YAML.parseDocument(text, { lineCounter: lines });
    const bad = doc.errors[0];
    if (bad) throw invalid(bad.linePos?.[0].line, bad.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
    return new YamlText(doc.toJS({ maxAliasCount: 1000 }), doc, lines);
  }

  /** The line of the deepest node on `path` (the key's line for a map entry); undefined for an empty text. */
  lineOf(path: Path): number | undefined {
    let node: unknown = this.doc.contents;
    let offset = (node as Node | null)?.range?.[0];
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        offset = (pair.key as Node).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        node = node.items[seg];
        offset = (node as Node).range?.[0] ?? offset;
      } else {
        break;
      }
    }
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }

  /** `file:line` of `path`, or just `file` when the line is unknown. */
  where(file: string, path: Path): string {
    const line = this.lineOf(path);
    return line === undefined ? file : `${file}:${line}`;
  }
}
