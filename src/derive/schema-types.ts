import { isObject } from '../doc/json.js';
import { SchemaResources, type SchemaBundle } from '../doc/schema-index.js';

/**
 * TypeScript types of JSON schemas, as Flow's generated modules write them: objects list their
 * properties (optional unless required; an index signature only when `additionalProperties` or
 * `patternProperties` give a schema), arrays and tuples, `enum`/`const` as literal unions,
 * `anyOf`/`oneOf` as unions and `allOf`/`$ref` as intersections. A subschema with an
 * `$anchor` that starts with a capital letter is written as `anchors.<Anchor>` wherever it is
 * used; the anchor's own type is written once, by `anchorType`. What a schema does not
 * constrain is `unknown`. `$ref`s resolve within the bundle; a reference cycle not broken by
 * an anchor becomes `unknown` where it recurs.
 */
export class SchemaTypes {
  /** Anchors seen so far, by name: the subschema and the base URI in scope there. */
  readonly anchors = new Map<string, { schema: Record<string, unknown>; base: string; uri: string }>();

  /** The TypeScript type of a bundle's root schema. Records the bundle's anchors. */
  typeOf(bundle: SchemaBundle): string {
    const documents = bundle.resources ?? [{ uri: bundle.uri, schema: bundle.root }];
    const resources = new SchemaResources(documents);
    for (const d of documents) this.collectAnchors(d.schema, d.uri, d.uri, resources);
    return new Mapper(resources).map(bundle.root, bundle.uri, 0);
  }

  /** The type an anchor names (its schema mapped in full, not as `anchors.<Name>`). */
  anchorType(name: string): string {
    const a = this.anchors.get(name)!;
    return new Mapper(this.resolvers.get(a.uri)!).map(a.schema, a.base, 0, a.schema);
  }

  private readonly resolvers = new Map<string, SchemaResources>();

  private collectAnchors(schema: unknown, base: string, uri: string, resources: SchemaResources): void {
    if (!isObject(schema)) return;
    if (typeof schema.$id === 'string') base = safeUrl(schema.$id, base) ?? base;
    const name = schema.$anchor;
    if (typeof name === 'string' && isAnchorName(name) && !this.anchors.has(name)) {
      this.anchors.set(name, { schema, base, uri });
      this.resolvers.set(uri, resources);
    }
    for (const [k, v] of Object.entries(schema)) {
      if (DATA_KEYWORDS.has(k)) continue;
      if (Array.isArray(v)) v.forEach((s) => this.collectAnchors(s, base, uri, resources));
      else if (isObject(v)) {
        if (NAMED.has(k)) for (const s of Object.values(v)) this.collectAnchors(s, base, uri, resources);
        else this.collectAnchors(v, base, uri, resources);
      }
    }
  }
}

/** Anchors that become types: a capital first letter, as Flow requires. */
export function isAnchorName(name: string): boolean {
  return /^[A-Z][A-Za-z0-9_]*$/.test(name);
}

const DATA_KEYWORDS = new Set(['const', 'enum', 'examples', 'default', 'reduce']);
const NAMED = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

class Mapper {
  /** Schemas being mapped, to cut reference cycles. */
  private readonly stack = new Set<unknown>();

  constructor(private readonly resources: SchemaResources) {}

  /** `self` is the anchor whose own type is being written: it is not replaced by its name. */
  map(schema: unknown, base: string, indent: number, self?: unknown): string {
    if (schema === false) return 'never';
    if (!isObject(schema)) return 'unknown';
    if (schema !== self && typeof schema.$anchor === 'string' && isAnchorName(schema.$anchor)) return `anchors.${schema.$anchor}`;
    if (this.stack.has(schema)) return 'unknown';
    this.stack.add(schema);
    try {
      return this.mapObject(schema, typeof schema.$id === 'string' ? (safeUrl(schema.$id, base) ?? base) : base, indent);
    } finally {
      this.stack.delete(schema);
    }
  }

  private mapObject(s: Record<string, unknown>, base: string, indent: number): string {
    const parts: string[] = [];
    if (typeof s.$ref === 'string') {
      const target = this.resources.resolve(s.$ref, base);
      parts.push(target ? this.map(target.schema, target.base, indent) : 'unknown');
    }
    if ('const' in s) parts.push(literal(s.const));
    else if (Array.isArray(s.enum)) parts.push(union(s.enum.map(literal)));
    else {
      const typed = this.byType(s, base, indent);
      if (typed) parts.push(typed);
    }
    for (const k of ['anyOf', 'oneOf']) {
      if (Array.isArray(s[k])) parts.push(union((s[k] as unknown[]).map((b) => this.map(b, base, indent))));
    }
    if (Array.isArray(s.allOf)) parts.push(...s.allOf.map((b) => this.map(b, base, indent)));
    const known = parts.filter((p) => p !== 'unknown');
    if (known.length === 0) return 'unknown';
    return known.length === 1 ? known[0]! : known.map(wrap).join(' & ');
  }

  private byType(s: Record<string, unknown>, base: string, indent: number): string | undefined {
    let types: string[];
    if (typeof s.type === 'string') types = [s.type];
    else if (Array.isArray(s.type)) types = s.type.filter((t): t is string => typeof t === 'string');
    else if (['properties', 'additionalProperties', 'patternProperties', 'required'].some((k) => k in s)) types = ['object'];
    else if (['items', 'prefixItems'].some((k) => k in s)) types = ['array'];
    else return undefined;
    const out = types.map((t) => {
      switch (t) {
        case 'string':
          return 'string';
        case 'integer':
        case 'number':
          return 'number';
        case 'boolean':
          return 'boolean';
        case 'null':
          return 'null';
        case 'array':
          return this.arrayType(s, base, indent);
        case 'object':
          return this.objectType(s, base, indent);
        default:
          return 'unknown';
      }
    });
    return union([...new Set(out)]);
  }

  private arrayType(s: Record<string, unknown>, base: string, indent: number): string {
    const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : undefined;
    const rest = tuple ? (Array.isArray(s.prefixItems) ? s.items : s.additionalItems) : s.items;
    if (!tuple) return `${wrap(this.map(rest ?? true, base, indent))}[]`;
    const head = tuple.map((t) => this.map(t, base, indent));
    if (rest === false) return `[${head.join(', ')}]`;
    return `[${[...head, `...${wrap(this.map(rest ?? true, base, indent))}[]`].join(', ')}]`;
  }

  private objectType(s: Record<string, unknown>, base: string, indent: number): string {
    const pad = '    '.repeat(indent + 1);
    const required = new Set(Array.isArray(s.required) ? s.required : []);
    const lines: string[] = [];
    const propertyTypes: string[] = [];
    for (const [name, sub] of Object.entries(isObject(s.properties) ? s.properties : {})) {
      const type = this.map(sub, base, indent + 1);
      propertyTypes.push(type);
      const doc = isObject(sub) ? docComment(sub, pad) : '';
      lines.push(`${doc}${pad}${IDENTIFIER.test(name) ? name : JSON.stringify(name)}${required.has(name) ? '' : '?'}: ${type};`);
    }
    const extra: string[] = [];
    if (isObject(s.additionalProperties)) extra.push(this.map(s.additionalProperties, base, indent + 1));
    for (const sub of Object.values(isObject(s.patternProperties) ? s.patternProperties : {})) extra.push(this.map(sub, base, indent + 1));
    if (extra.length > 0) {
      // Every property must also fit the index signature.
      const all = [...new Set([...extra, ...propertyTypes])];
      lines.push(`${pad}[k: string]: ${all.includes('unknown') ? 'unknown' : union(all)};`);
    }
    if (lines.length === 0) return extra.length === 0 && s.additionalProperties === false ? 'Record<string, never>' : 'Record<string, unknown>';
    return `{\n${lines.join('\n')}\n${'    '.repeat(indent)}}`;
  }
}

function docComment(s: Record<string, unknown>, pad: string): string {
  const text = [s.title, s.description].filter((t): t is string => typeof t === 'string').join('\n\n');
  if (text === '') return '';
  return `${pad}/** ${text.replaceAll('*/', '*\\/').split('\n').join(`\n${pad} * `)} */\n`;
}

function literal(v: unknown): string {
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return JSON.stringify(v);
  return 'unknown';
}

function union(types: string[]): string {
  if (types.length === 0) return 'never';
  if (types.includes('unknown')) return 'unknown';
  return types.length === 1 ? types[0]! : types.map(wrap).join(' | ');
}

// Unions and intersections get parentheses when they become part of a larger type.
function wrap(type: string): string {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < type.length; i++) {
    const c = type[i]!;
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if ('{[(<'.includes(c)) depth++;
    else if ('}])>'.includes(c)) depth--;
    else if (depth === 0 && (c === '|' || c === '&')) return `(${type})`;
  }
  return type;
}

function safeUrl(ref: string, base: string): string | undefined {
  try {
    const url = new URL(ref, base);
    url.hash = '';
    return url.href;
  } catch {
    return undefined;
  }
}
