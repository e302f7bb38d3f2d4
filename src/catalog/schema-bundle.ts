import { fileURLToPath } from 'node:url';
import { getPointer, parsePointer } from '../doc/json.js';
import type { InletError } from '../errors.js';
import { declaredProperties, inferLocation, type DeclaredProperty, type Inferred } from '../doc/inference.js';
import { SchemaResources, type SchemaBundle } from '../doc/schema-index.js';
import type { Path } from '../yaml.js';
import { displayPath, fileReference, SourceFile } from './source.js';

/** A schema document: a schema file, or a catalog's inline schema (`at` is where it sits in `file`). */
interface SchemaDoc {
  readonly uri: string;
  readonly value: unknown;
  readonly file: SourceFile;
  readonly at: Path;
  /** The documents its `$ref`s name, once followed. */
  refs?: SchemaDoc[];
}

// Values of these keywords are data, not schemas: a `$ref` inside them is no reference.
const DATA_KEYWORDS = new Set(['const', 'enum', 'examples', 'default']);
// Under these keywords the keys are names, so a property called `default` is still a schema.
const NAMED_SCHEMAS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * Loads the schemas of one catalog: each schema file once, however many collections or
 * `$ref`s name it, following `$ref`s to other files so every bundle is complete.
 */
export class SchemaLoader {
  private readonly docs = new Map<string, SchemaDoc>();
  /** The reference resolver of each bundle, built at its first inference. */
  private readonly resolvers = new WeakMap<SchemaBundle, SchemaResources>();

  /** Absolute paths of the schema files loaded, in load order. */
  readonly files: string[] = [];

  /**
   * The bundle of a collection's `schema` field, found at `path` in `file`: a file name
   * (relative to `file`), `file#/json/pointer`, or an inline schema object. Throws
   * INVALID_CATALOG at the referring place when a file is missing or not valid YAML/JSON, a
   * pointer names no location, or a `$ref` is not to a local file.
   */
  async bundle(file: SourceFile, path: Path, collection: string, schema: unknown): Promise<SchemaBundle> {
    let doc: SchemaDoc;
    let root: unknown;
    if (typeof schema === 'string') {
      const url = fileReference(schema, file.url);
      if (!url) throw file.error(path, `${JSON.stringify(schema)} is not a local file (schemas load only from files)`);
      const hash = url.hash;
      url.hash = '';
      doc = await this.load(url, (why) => file.error(path, `cannot read schema file ${displayPath(fileURLToPath(url))}: ${why}`));
      root = doc.value;
      if (hash !== '') {
        const tokens = this.pointer(hash);
        if (!tokens) throw file.error(path, `${JSON.stringify(hash)} must be a JSON pointer like #/$defs/name`);
        if (getPointer(doc.value, tokens) === undefined) throw file.error(path, `${displayPath(doc.file.path)} has no ${hash.slice(1)}`);
        root = { $ref: doc.uri + hash };
      }
    } else {
      const uri = `${file.url.href}?collection=${encodeURIComponent(collection)}`;
      doc = { uri, value: schema, file, at: path };
      this.docs.set(uri, doc);
      root = schema;
    }
    const resources: { uri: string; schema: unknown }[] = [];
    const queue = [doc];
    const seen = new Set(queue);
    for (let d = queue.shift(); d; d = queue.shift()) {
      resources.push({ uri: d.uri, schema: d.value });
      for (const next of await this.follow(d)) {
        if (seen.has(next)) continue;
        seen.add(next);
        queue.push(next);
      }
    }
    return { root, uri: doc.uri, resources };
  }

  /** What a bundle's schema provably says about the location at `tokens` (see inferLocation). */
  infer(bundle: SchemaBundle, tokens: readonly string[]): Inferred {
    const resources = this.resolvers.get(bundle) ?? this.resolverOf(bundle);
    return inferLocation({ schema: bundle.root, base: bundle.uri }, tokens, (ref, base) => resources.resolve(ref, base));
  }

  /** The top-level properties a bundle's schema declares (see declaredProperties). */
  properties(bundle: SchemaBundle): DeclaredProperty[] {
    const resources = this.resolvers.get(bundle) ?? this.resolverOf(bundle);
    return declaredProperties({ schema: bundle.root, base: bundle.uri }, (ref, base) => resources.resolve(ref, base));
  }

  private resolverOf(bundle: SchemaBundle): SchemaResources {
    const resources = new SchemaResources(bundle.resources ?? [{ uri: bundle.uri, schema: bundle.root }]);
    this.resolvers.set(bundle, resources);
    return resources;
  }

  /** Loads the documents `doc`'s `$ref`s name; their errors point at the `$ref`. */
  private async follow(doc: SchemaDoc): Promise<SchemaDoc[]> {
    if (doc.refs) return doc.refs;
    const refs: SchemaDoc[] = [];
    for (const { ref, path } of refsIn(doc.value, [...doc.at])) {
      const fail = (why: string): InletError => doc.file.error(path, why);
      const url = fileReference(ref, new URL(doc.uri));
      if (!url) throw fail(`${JSON.stringify(ref)} is not a local file (schemas load only from files)`);
      const hash = url.hash;
      url.hash = '';
      const target = this.docs.get(url.href) ?? (await this.load(url, (why) => fail(`cannot read schema file ${displayPath(fileURLToPath(url))}: ${why}`)));
      const tokens = hash.startsWith('#/') ? this.pointer(hash) : [];
      if (!tokens || getPointer(target.value, tokens) === undefined) throw fail(`${displayPath(target.file.path)} has no ${hash.slice(1)}`);
      if (!refs.includes(target)) refs.push(target);
    }
    return (doc.refs = refs);
  }

  private async load(url: URL, missing: (why: string) => InletError): Promise<SchemaDoc> {
    const known = this.docs.get(url.href);
    if (known) return known;
    const file = await SourceFile.read(url, missing);
    if (typeof file.value !== 'boolean' && (file.value === null || typeof file.value !== 'object' || Array.isArray(file.value))) {
      throw file.error([], 'must be a JSON schema (an object or a boolean)');
    }
    const doc: SchemaDoc = { uri: url.href, value: file.value, file, at: [] };
    this.docs.set(doc.uri, doc);
    this.files.push(file.path);
    return doc;
  }

  /** The pointer tokens of a `#/…` URL fragment, or undefined when it is not a pointer. */
  private pointer(hash: string): string[] | undefined {
    try {
      const pointer = decodeURIComponent(hash.slice(1));
      return pointer.startsWith('/') ? parsePointer(pointer) : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Every `$ref` string within a schema, with its path. */
function* refsIn(value: unknown, path: (string | number)[], named = false): Generator<{ ref: string; path: Path }> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* refsIn(value[i], [...path, i]);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (named) yield* refsIn(v, [...path, k]);
      else if (k === '$ref' && typeof v === 'string') yield { ref: v, path: [...path, k] };
      else if (!DATA_KEYWORDS.has(k)) yield* refsIn(v, [...path, k], NAMED_SCHEMAS.has(k));
    }
  }
}
