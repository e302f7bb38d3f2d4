import { readFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML, { isAlias, isMap, isScalar, isSeq, LineCounter, type Node } from 'yaml';
import { parsePointer } from '../doc/json.js';
import { InletError } from '../errors.js';
import { describeAjvError, type ValidateFunction } from '../schema.js';

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

/** `ref` resolved against `base` when it names a local file (fragment kept), else undefined. */
export function fileReference(ref: string, base: URL): URL | undefined {
  try {
    const url = new URL(ref, base);
    return url.protocol === 'file:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A file's path as errors show it: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * A YAML or JSON file, parsed, that can say on which line a path lies, so errors read
 * `catalog/a.flow.yaml:7 collections."acme/x".key[0]: must be a JSON pointer`.
 */
export class SourceFile {
  private constructor(
    readonly url: URL,
    readonly value: unknown,
    private readonly doc: YAML.Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** The file's absolute path. */
  get path(): string {
    return fileURLToPath(this.url);
  }

  /**
   * Reads and parses `url`. Throws INVALID_CATALOG when the file cannot be read (from
   * `missing()`, which names whoever referred to the file) or is not valid YAML.
   */
  static async read(url: URL, missing: (why: string) => InletError): Promise<SourceFile> {
    let text: string;
    try {
      text = await readFile(url, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw missing(code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message);
    }
    const lines = new LineCounter();
    const doc = YAML.parseDocument(text, { lineCounter: lines });
    const bad = doc.errors[0];
    if (bad) {
      const at = bad.linePos ? `:${bad.linePos[0].line}` : '';
      const why = bad.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new InletError('INVALID_CATALOG', `${displayPath(fileURLToPath(url))}${at}: not valid YAML: ${why}`);
    }
    return new SourceFile(url, doc.toJS({ maxAliasCount: 1000 }), doc, lines);
  }

  /** `file:line` of the deepest node on `path` (the key's line for a map entry). */
  where(path: Path): string {
    const line = this.lineOf(path);
    return `${displayPath(this.path)}${line === undefined ? '' : `:${line}`}`;
  }

  /** An INVALID_CATALOG error `file:line path: problem`. */
  error(path: Path, problem: string): InletError {
    return new InletError('INVALID_CATALOG', `${this.where(path)}${path.length ? ` ${renderPath(path)}` : ''}: ${problem}`);
  }

  /**
   * The INVALID_CATALOG error for a value at `path` that `validate` refused: ajv's first
   * error, its field named from `path` on.
   */
  invalid(path: Path, value: unknown, validate: ValidateFunction): InletError {
    const e = validate.errors?.[0];
    const within: (string | number)[] = [...path];
    if (e) {
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      const tokens = parsePointer(e.instancePath);
      let at = value;
      for (const t of extra === undefined ? tokens : [...tokens, extra]) {
        within.push(Array.isArray(at) ? Number(t) : t);
        at = (at as Record<string, unknown> | undefined)?.[t];
      }
    }
    return new InletError('INVALID_CATALOG', `${this.where(within)} ${describeAjvError(validate.errors, renderPath(path))}`);
  }

  private lineOf(path: Path): number | undefined {
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
}
