/**
 * `Stream-Cursor` for live reads: the number of 20-second intervals since a fixed epoch,
 * so CDNs can collapse identical long-polls. A client echoing a cursor that is not behind
 * gets one pushed ahead by a random jitter (up to an hour) to break request loops.
 */
const EPOCH_MS = Date.UTC(2024, 9, 9);
const INTERVAL_S = 20;

export function nextCursor(clientCursor: string | undefined): string {
  const current = Math.floor((Date.now() - EPOCH_MS) / (INTERVAL_S * 1000));
  const client = clientCursor === undefined ? NaN : parseInt(clientCursor, 10);
  if (Number.isNaN(client) || client < current) return String(current);
  const jitterSeconds = 1 + Math.floor(Math.random() * 3600);
  return String(client + Math.max(1, Math.ceil(jitterSeconds / INTERVAL_S)));
}
