import { Gauge, type Registry } from 'prom-client';
import type { DerivationStatus } from './runtime.js';

/**
 * Registers the derivations' gauges in `registry`, read from `status()` at each scrape:
 * documents read and published, lag in bytes and seconds per source, and state.
 */
export function registerDerivationMetrics(registry: Registry, status: () => DerivationStatus[]): void {
  const read = new Gauge({ name: 'inlet_derivation_documents_read', help: 'Source documents a derivation read since it started', labelNames: ['derivation'], registers: [registry] });
  const published = new Gauge({ name: 'inlet_derivation_documents_published', help: 'Documents a derivation published since it started', labelNames: ['derivation'], registers: [registry] });
  const lagBytes = new Gauge({ name: 'inlet_derivation_lag_bytes', help: 'Bytes of a source not yet committed as read', labelNames: ['derivation', 'source'], registers: [registry] });
  const lagSeconds = new Gauge({ name: 'inlet_derivation_lag_seconds', help: 'Seconds since a derivation was last caught up with a source', labelNames: ['derivation', 'source'], registers: [registry] });
  new Gauge({
    name: 'inlet_derivation_state',
    help: 'A derivation state: 1 for the state it is in',
    labelNames: ['derivation', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      read.reset();
      published.reset();
      lagBytes.reset();
      lagSeconds.reset();
      for (const s of status()) {
        for (const st of ['backfilling', 'live', 'failed', 'stopped']) this.set({ derivation: s.name, state: st }, s.state === st ? 1 : 0);
        read.set({ derivation: s.name }, s.read);
        published.set({ derivation: s.name }, s.published);
        for (const [source, lag] of Object.entries(s.sources)) {
          lagBytes.set({ derivation: s.name, source }, lag.lagBytes);
          lagSeconds.set({ derivation: s.name, source }, lag.lagSeconds);
        }
      }
    },
  });
}
