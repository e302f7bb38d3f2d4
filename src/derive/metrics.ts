import { Gauge, type Registry } from 'prom-client';
import type { DerivationStatus } from './runtime.js';

/**
 * Registers the derivations' gauges in `registry`, read from `status()` at each scrape (it may
 * refresh lag first; one call serves every gauge of a scrape): documents read and published,
 * lag in bytes and seconds per source, and state.
 */
export function registerDerivationMetrics(registry: Registry, status: () => DerivationStatus[] | Promise<DerivationStatus[]>): void {
  let pending: Promise<DerivationStatus[]> | undefined;
  const snapshot = () =>
    (pending ??= Promise.resolve(status()).finally(() => {
      setImmediate(() => (pending = undefined));
    }));
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge, all: DerivationStatus[]) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const all = await snapshot();
        this.reset();
        fill(this, all);
      },
    });
  gauge('inlet_derivation_documents_read', 'Source documents a derivation read since it started', ['derivation'], (g, all) => {
    for (const s of all) g.set({ derivation: s.name }, s.read);
  });
  gauge('inlet_derivation_documents_published', 'Documents a derivation published since it started', ['derivation'], (g, all) => {
    for (const s of all) g.set({ derivation: s.name }, s.published);
  });
  gauge('inlet_derivation_lag_bytes', 'Bytes of a source not yet committed as read', ['derivation', 'source'], (g, all) => {
    for (const s of all) for (const [source, lag] of Object.entries(s.sources)) g.set({ derivation: s.name, source }, lag.lagBytes);
  });
  gauge('inlet_derivation_lag_seconds', 'Seconds since a derivation was last caught up with a source', ['derivation', 'source'], (g, all) => {
    for (const s of all) for (const [source, lag] of Object.entries(s.sources)) g.set({ derivation: s.name, source }, lag.lagSeconds);
  });
  gauge('inlet_derivation_state', 'A derivation state: 1 for the state it is in', ['derivation', 'state'], (g, all) => {
    for (const s of all) for (const st of ['backfilling', 'live', 'failed', 'stopped']) g.set({ derivation: s.name, state: st }, s.state === st ? 1 : 0);
  });
}
