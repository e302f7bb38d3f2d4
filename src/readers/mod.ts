// The readers' public surface: history from the lake, then live from the broker, as one stream.
export { JournalReader } from './journal-reader.js';
export { SelectorReader, type SelectorReaderOptions } from './selector-reader.js';
export { readDocuments } from './documents.js';
export { ReaderError, type Chunk, type Document, type Jump, type ReaderOptions } from './types.js';
export { BrokerClient } from '../client/broker-client.js';
export { CollectionReader, readCollection, type CollectionReaderOptions, type ReadCheckpoint } from '../collections/reader.js';
export { Sequencer, isAck, type JournalCheckpoint, type SequencedDocument } from '../collections/sequencer.js';
