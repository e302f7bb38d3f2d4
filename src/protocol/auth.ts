import type { Labels } from './selectors.js';

/** What a bearer token may do, as in Gazette: each capability is scoped by the token's label selector. */
export const CAPABILITIES = ['LIST', 'READ', 'APPEND', 'APPLY', 'DELETE', 'INGEST'] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** A journal (or a collection, by its label) a request acts on; `name` is matched as the label `name`. */
export interface Target {
  readonly name: string;
  readonly labels: Labels;
}

/**
 * The authorization checks a route makes on the targets it acts on, given the request whose
 * token (if the broker requires one) was verified before the route ran. The broker implements
 * it; plugins of other layers (the collections' `/ingest`) receive it.
 */
export interface RequestGuard<Req = unknown> {
  /** Throws FORBIDDEN unless the request's token grants `capability` (default: its route's) on `target`. */
  authorize(req: Req, target: Target, capability?: Capability): void;
  /** The items whose targets the request's token covers with its route's capability; all of them without auth. */
  visible<T>(req: Req, items: readonly T[], targetOf: (item: T) => Target): T[];
}
