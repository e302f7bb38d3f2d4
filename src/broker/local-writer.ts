import type { JournalRegistry } from '../journal/registry.js';
import type { JournalSpec, JournalSpecInput } from '../journal/spec.js';
import { closedError, type StreamService } from './streams.js';

/**
 * The broker's journals as a port for code that runs beside it in the same process (the
 * collections plugin): ensure a journal, append durably, list and update specs. It is the
 * in-process twin of the HTTP appender, and the only way such code reaches the broker.
 */
export class LocalWriter {
  constructor(
    private readonly registry: JournalRegistry,
    private readonly streams: StreamService,
    /** Throws (503) while the lake cannot keep up. */
    readonly checkBacklog: () => void,
  ) {}

  /**
   * Creates the journal unless it exists. An existing journal takes the input's labels (a
   * journal made before it belonged to a collection gets the labels readers select by);
   * its content type and other settings stay. Throws JOURNAL_NOT_FOUND or STREAM_CLOSED,
   * before anything is written, when it is deleted or closed.
   */
  async ensure(input: JournalSpecInput): Promise<void> {
    const existing = this.registry.get(input.name);
    if (existing) {
      this.streams.visible(input.name);
      if (this.registry.state(input.name).closed) throw closedError(input.name, existing.head);
      const labels = { ...existing.spec.labels, ...input.labels };
      if (Object.entries(labels).some(([k, v]) => existing.spec.labels[k] !== v)) {
        const { contentType, validateJson } = existing.spec;
        await this.registry.apply([this.registry.resolve({ ...input, labels, contentType, validateJson }, input.name)]);
      }
      return;
    }
    const spec = this.registry.resolve(input, input.name);
    await this.streams.create(spec.name, spec, { contentType: spec.contentType });
  }

  /** Appends bytes; resolves with the journal's end offset once durable. */
  async append(journal: string, body: Buffer): Promise<number> {
    const out = await this.streams.append(journal, body, {});
    return out.kind === 'appended' ? out.result.end : out.head;
  }

  /** The specs of every journal. */
  journals(): JournalSpec[] {
    return this.registry.list().map((j) => j.spec);
  }

  /** Applies changed specs of existing journals; resolves with how many changed. */
  async update(inputs: JournalSpecInput[]): Promise<number> {
    const results = await this.registry.apply(inputs.map((input) => this.registry.resolve(input, input.name)));
    return results.filter((r) => r.action === 'updated').length;
  }
}
