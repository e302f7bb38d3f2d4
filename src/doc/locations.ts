import type { SchemaNode, Strategy } from './schema-index.js';

/** Tells whether a document validates against a branch (an anyOf / oneOf member, or an `if`). */
export type BranchTest = (node: SchemaNode, value: unknown) => boolean;

const LAST_WRITE_WINS: Strategy = { strategy: 'lastWriteWins' };

/**
 * The schemas that apply at one location of a document. Which of their in-place
 * branches apply, and so which `reduce` annotation wins, depends on the right-hand
 * document's value there: `resolve(rhs)` answers for one value.
 *
 * Annotations are gathered in schema order, depth first: a schema's own `reduce`, then
 * those of its $ref, allOf, anyOf and oneOf branches the value validates against,
 * dependentSchemas whose property is present, and `then` (if `if` validates) or `else`.
 * The last one gathered wins, so a branch overrides the schema that holds it; with
 * none, the strategy is lastWriteWins.
 */
export class Location {
  private fixed: Resolved | undefined;

  constructor(
    private readonly space: LocationSpace,
    readonly nodes: readonly SchemaNode[],
    /** No branch needs validating: every value resolves alike. */
    readonly isStatic: boolean,
  ) {}

  /** The strategy and child locations for this rhs value. */
  resolve(rhs: unknown): Resolved {
    if (this.isStatic) return (this.fixed ??= this.space.resolved(this.space.closure(this.nodes, undefined)));
    return this.space.resolved(this.space.closure(this.nodes, rhs));
  }
}

/** A location once its applicable branches are known: the strategy, and where children go. */
export class Resolved {
  readonly strategy: Strategy;
  private readonly named = new Map<string, Location>();
  private other: Location | undefined;
  private readonly prefix: Location[] = [];
  private rest: Location | undefined;
  private readonly hasPatterns: boolean;
  private readonly prefixLength: number;

  constructor(
    private readonly space: LocationSpace,
    readonly nodes: readonly SchemaNode[],
  ) {
    this.strategy = nodes.findLast((n) => n.strategy !== undefined)?.strategy ?? LAST_WRITE_WINS;
    this.hasPatterns = nodes.some((n) => n.patternProperties.length > 0);
    this.prefixLength = Math.max(0, ...nodes.map((n) => n.prefixItems.length));
  }

  /** The location of property `name` of an object here. */
  property(name: string): Location {
    let loc = this.named.get(name);
    if (loc) return loc;
    // Cache only what the schema names: property names of data are unbounded.
    if (this.nodes.some((n) => n.properties.has(name))) {
      this.named.set(name, (loc = this.propertyLocation(name)));
      return loc;
    }
    if (this.hasPatterns) return this.propertyLocation(name);
    return (this.other ??= this.propertyLocation(name));
  }

  /** The location of item `index` of an array here. */
  item(index: number): Location {
    if (index < this.prefixLength) return (this.prefix[index] ??= this.itemLocation(index));
    return (this.rest ??= this.itemLocation(index));
  }

  private propertyLocation(name: string): Location {
    const out: SchemaNode[] = [];
    for (const n of this.nodes) {
      const before = out.length;
      const p = n.properties.get(name);
      if (p) out.push(p);
      for (const [re, sub] of n.patternProperties) if (re.test(name)) out.push(sub);
      if (out.length === before && n.additionalProperties) out.push(n.additionalProperties);
    }
    return this.space.at(out);
  }

  private itemLocation(index: number): Location {
    const out: SchemaNode[] = [];
    for (const n of this.nodes) {
      const sub = index < n.prefixItems.length ? n.prefixItems[index] : n.items;
      if (sub) out.push(sub);
    }
    return this.space.at(out);
  }
}

/**
 * Interns locations and resolutions of one schema, so each distinct set of nodes is
 * worked out once. Nodes without anyOf / oneOf / if / dependentSchemas (in themselves
 * or through $ref and allOf) never cost a validation.
 */
export class LocationSpace {
  private readonly locations = new Map<string, Location>();
  private readonly resolutions = new Map<string, Resolved>();
  private readonly dynamic = new Map<SchemaNode, boolean>();

  constructor(private readonly test: BranchTest) {}

  /** The location where exactly `nodes` apply. */
  at(nodes: readonly SchemaNode[]): Location {
    const key = nodes.map((n) => n.id).join(',');
    let loc = this.locations.get(key);
    if (!loc) this.locations.set(key, (loc = new Location(this, nodes, nodes.every((n) => !this.isDynamic(n)))));
    return loc;
  }

  /** Every node applying in place at a location holding `value` (undefined: only the unconditional ones). */
  closure(nodes: readonly SchemaNode[], value: unknown): SchemaNode[] {
    const seen = new Set<SchemaNode>();
    const visit = (n: SchemaNode): void => {
      if (seen.has(n)) return;
      seen.add(n);
      n.inPlace.forEach(visit);
      if (value === undefined) return;
      for (const b of n.anyOf) if (this.test(b, value)) visit(b);
      for (const b of n.oneOf) if (this.test(b, value)) visit(b);
      if (n.dependentSchemas.length > 0 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
        for (const [prop, b] of n.dependentSchemas) if (Object.hasOwn(value, prop)) visit(b);
      }
      if (n.if) {
        const branch = this.test(n.if, value) ? n.then : n.else;
        if (branch) visit(branch);
      }
    };
    nodes.forEach(visit);
    return [...seen];
  }

  resolved(nodes: SchemaNode[]): Resolved {
    const key = nodes.map((n) => n.id).join(',');
    let r = this.resolutions.get(key);
    if (!r) this.resolutions.set(key, (r = new Resolved(this, nodes)));
    return r;
  }

  // Whether anything applying in place at `n` has a branch that needs validating.
  private isDynamic(n: SchemaNode): boolean {
    let d = this.dynamic.get(n);
    if (d === undefined) {
      d = this.closure([n], undefined).some((m) => m.anyOf.length > 0 || m.oneOf.length > 0 || m.if !== undefined || m.dependentSchemas.length > 0);
      this.dynamic.set(n, d);
    }
    return d;
  }
}
