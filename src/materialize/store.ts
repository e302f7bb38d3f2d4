import type { MaterializationSpec } from '../catalog/types.js';
import type { Collection } from '../collections/collection.js';
import { inPartitions } from '../collections/partitions.js';
import type { SequencedDocument } from '../collections/sequencer.js';
import type { Application, ConsumerCheckpoint, Store } from '../consumer/types.js';
import { Combiner } from '../doc/combine.js';
import type { Driver } from './driver.js';

/** What one commit wrote, for status and metrics. */
export interface Committed {
  readonly rows: number;
  readonly checkpoint: ConsumerCheckpoint;
  /** When its first document was consumed (epoch ms). */
  readonly opened: number;
}

/**
 * A materialization as a consumer: the `Application` combines each transaction's source
 * documents by key (the collection's reduce annotations), and the `Store` is the target
 * database, through its `Driver`. A commit, in one database transaction after the previous
 * one: the fenced checkpoint, the stored documents of the combined keys, each reduced with its
 * combined document (`full`: the stored one is the whole prior document), written back. With
 * `deltaUpdates` the combined documents are written as they are, without a load.
 */
export class MaterializationStore implements Store, Application {
  private combiner: Combiner;
  private opened = 0;

  constructor(
    private readonly spec: MaterializationSpec,
    private readonly collection: Collection,
    private readonly driver: Driver,
    private readonly restored: ConsumerCheckpoint | undefined,
    private readonly onCommit: (c: Committed) => void,
  ) {
    this.combiner = new Combiner(collection.schema, collection.spec.key);
  }

  consume(d: SequencedDocument): void {
    if (!this.selected(d.doc)) return;
    if (this.combiner.size === 0) this.opened = Date.now();
    this.combiner.add(d.doc);
  }

  async restoreCheckpoint(): Promise<ConsumerCheckpoint | undefined> {
    return this.restored;
  }

  async commit(ready: Promise<ConsumerCheckpoint>): Promise<void> {
    const docs = this.combiner.drain();
    const opened = this.opened;
    // After the previous commit (ready follows it): the load must see what it wrote.
    const checkpoint = await ready;
    const schema = this.collection.schema;
    const merge = this.spec.deltaUpdates ? undefined : (stored: unknown, doc: unknown) => (stored === undefined ? doc : schema.reduce(stored, doc, { full: true }));
    await this.driver.commit(docs, JSON.stringify(checkpoint), merge);
    this.onCommit({ rows: docs.length, checkpoint, opened });
  }

  /** Whether a document lies in the partitions the materialization reads (`source.partitions`). */
  private selected(doc: unknown): boolean {
    return inPartitions(doc, this.collection.spec, this.spec.reads.partitions);
  }

}
