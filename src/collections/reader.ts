import type { BrokerClient } from '../client/broker-client.js';
import { readDocuments } from '../readers/documents.js';
import { SelectorReader, type SelectorReaderOptions } from '../readers/selector-reader.js';
import { collectionSelector, type PartitionValue } from './partitions.js';
import { Sequencer, type SequencedDocument } from './sequencer.js';

export interface CollectionReaderOptions extends SelectorReaderOptions {
  /** Only the partitions whose fields have these values. */
  partitions?: Record<string, PartitionValue>;
}

/**
 * The committed documents of a collection, from every partition journal (history straight
 * from the lake, then live when following): uncommitted and rolled-back documents, ACKs and
 * duplicates of retried transactions never appear. Each journal's documents keep their order.
 */
export async function* readCollection<T = unknown>(
  client: BrokerClient,
  collection: string,
  opts: CollectionReaderOptions = {},
): AsyncGenerator<SequencedDocument<T>> {
  const reader = new SelectorReader(client, collectionSelector(collection, opts.partitions), opts);
  const sequencers = new Map<string, Sequencer<T>>();
  for await (const d of readDocuments<T>(reader)) {
    let seq = sequencers.get(d.journal);
    if (!seq) sequencers.set(d.journal, (seq = new Sequencer<T>()));
    for (const committed of seq.push(d)) yield committed;
  }
}
