import { InletError } from '../errors.js';
import { checkJsonDepth } from '../protocol/json-depth.js';
import { findInexactInteger, inexactReason, pointerOf } from '../protocol/json-exact.js';
import { isLineOriented, mediaType, type JournalSpec } from '../journal/spec.js';

/**
 * Turns a request body into the bytes a journal stores, or refuses it whole.
 *
 * - `application/json` journals (Durable Streams JSON mode) store one message per line: a
 *   JSON array appends its elements, any other value appends itself.
 * - NDJSON journals take whole lines only; with `validateJson` every line must parse.
 * - Anything else is stored as is.
 */
export function encodeAppend(spec: JournalSpec, body: Buffer, opts: { allowEmptyArray?: boolean } = {}): Buffer {
  const type = mediaType(spec.contentType);
  if (type === 'application/json') return encodeJsonMessages(body, opts.allowEmptyArray ?? false);
  if (isLineOriented(spec)) {
    if (body.length > 0 && body[body.length - 1] !== 10) {
      throw new InletError('INVALID_CONTENT', `journal ${spec.name} holds NDJSON: an append must end with a newline`);
    }
    if (spec.validateJson) checkJsonLines(spec.name, body);
  }
  return body;
}

function encodeJsonMessages(body: Buffer, allowEmptyArray: boolean): Buffer {
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InletError('INVALID_CONTENT', `invalid JSON: ${(err as Error).message}`);
  }
  // Messages are stored re-serialized: a number JSON cannot hold exactly would come back changed.
  const inexact = findInexactInteger(text, value);
  if (inexact) throw new InletError('INVALID_CONTENT', `${pointerOf(inexact.path) || '(root)'}: ${inexactReason(inexact)}`);
  const messages = Array.isArray(value) ? value : [value];
  if (messages.length === 0) {
    if (allowEmptyArray) return Buffer.alloc(0);
    throw new InletError('EMPTY_APPEND', 'an empty JSON array appends nothing');
  }
  checkJsonDepth(value, MAX_MESSAGE_DEPTH, 'a JSON message');
  let out = '';
  for (const m of messages) out += JSON.stringify(m) + '\n';
  return Buffer.from(out, 'utf8');
}

// Deep enough for any real message; JSON.stringify overflows the stack near 10,000.
const MAX_MESSAGE_DEPTH = 1000;

/** Checks that every line parses as JSON; the error names the first bad line (1-based). */
function checkJsonLines(journal: string, body: Buffer): void {
  let start = 0;
  let line = 1;
  while (start < body.length) {
    const nl = body.indexOf(10, start);
    const text = body.toString('utf8', start, nl);
    if (text.trim() !== '') {
      try {
        JSON.parse(text);
      } catch (err) {
        throw new InletError('INVALID_CONTENT', `journal ${journal}: line ${line} of the append is not valid JSON: ${(err as Error).message}`, {
          details: { line },
        });
      }
    }
    start = nl + 1;
    line++;
  }
}

/** Renders stored JSON-mode lines as the JSON array a reader receives. */
export function jsonArrayOf(lines: Buffer): Buffer {
  if (lines.length === 0) return Buffer.from('[]');
  let end = lines.length;
  if (lines[end - 1] === 10) end--;
  const inner = lines.subarray(0, end).toString('utf8').replace(/\n/g, ',');
  return Buffer.from(`[${inner}]`, 'utf8');
}
