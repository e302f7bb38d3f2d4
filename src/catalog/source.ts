import { readFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePointer } from '../doc/json.js';
import { InletError } from '../errors.js';
import { describeAjvError, type ValidateFunction } from '../schema.js';
import { renderPath, YamlText, type Path } from '../yaml.js';

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
    private readonly text: YamlText,
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
    const parsed = YamlText.parse(text, (line, why) => {
      return new InletError('INVALID_CATALOG', `${displayPath(fileURLToPath(url))}${line === undefined ? '' : `:${line}`}: not valid YAML: ${why}`);
    });
    return new SourceFile(url, parsed.value, parsed);
  }

  /** `file:line` of the deepest node on `path` (the key's line for a map entry). */
  where(path: Path): string {
    return this.text.where(displayPath(this.path), path);
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
}
