import { InletError } from '../errors.js';
import { PRODUCER_STATE_TTL_MS, type ProducerState } from '../journal/stream-state.js';

export { pruneProducers } from '../journal/stream-state.js';

/** An idempotent producer of the Durable Streams protocol: `Producer-Id`, `-Epoch` and `-Seq`. */
export interface Producer {
  id: string;
  epoch: number;
  seq: number;
}

/**
 * Whether an append of producer `p` is new or a duplicate of one already accepted, given the
 * producer's state. Throws PRODUCER_STALE_EPOCH for an older epoch, PRODUCER_SEQUENCE_GAP for
 * a sequence number that skips ahead, BAD_REQUEST for a new epoch not starting at 0.
 */
export function checkProducer(state: ProducerState | undefined, p: Producer): 'accept' | 'duplicate' {
  const fresh = state && Date.now() - state.lastUpdated <= PRODUCER_STATE_TTL_MS ? state : undefined;
  if (!fresh) {
    if (p.seq !== 0) throw producerGap(0, p.seq);
    return 'accept';
  }
  if (p.epoch < fresh.epoch) {
    throw new InletError('PRODUCER_STALE_EPOCH', `producer ${p.id}: epoch ${p.epoch} is older than the current ${fresh.epoch}`, {
      details: { currentEpoch: fresh.epoch },
    });
  }
  if (p.epoch > fresh.epoch) {
    if (p.seq !== 0) throw new InletError('BAD_REQUEST', `producer ${p.id}: a new epoch must start at sequence 0`);
    return 'accept';
  }
  if (p.seq <= fresh.lastSeq) return 'duplicate';
  if (p.seq === fresh.lastSeq + 1) return 'accept';
  throw producerGap(fresh.lastSeq + 1, p.seq);
}

function producerGap(expected: number, received: number): InletError {
  return new InletError('PRODUCER_SEQUENCE_GAP', `producer sequence gap: expected ${expected}, received ${received}`, {
    details: { expectedSeq: expected, receivedSeq: received },
  });
}
