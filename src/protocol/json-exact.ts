
/** An integer literal that JSON.parse could not hold exactly, and where its value sits. */
export interface InexactInteger {
  /** The literal as written, e.g. `9007199254740993`. */
  readonly literal: string;
  /** The number it parsed to, e.g. `9007199254740992`. */
  readonly parsed: number;
  /** JSON pointer tokens of the value in the parsed document. */
  readonly path: readonly string[];
}

// An integer literal of 16 digits or more: not part of a word, a fraction or an exponent.
const LONG_INTEGER = /(?<![\w.+-])-?\d{16,}(?![\d.eE])/g;

/**
 * JSON numbers are doubles: an integer literal beyond ±(2^53 − 1) may parse to a neighbour
 * (9007199254740993 reads as 9007199254740992) and would be written back changed. Finds the
 * first such literal of `text` that `value`, its parse, holds as a number, or undefined.
 *
 * A scan of the text (cheap: ~14% of JSON.parse's time) finds candidates; only when there are
 * any is `value` walked, so digits inside strings are not mistaken for numbers. Floats
 * (`1.5`, `1e300`) are never inexact by this measure: their literal asks for a double.
 */
export function findInexactInteger(text: string, value: unknown): InexactInteger | undefined {
  const candidates = new Map<number, string>();
  for (const [literal] of text.matchAll(LONG_INTEGER)) {
    const parsed = Number(literal);
    if (!Number.isFinite(parsed) || BigInt(parsed) !== BigInt(literal)) candidates.set(parsed, literal);
  }
  if (candidates.size === 0) return undefined;
  return find(value, []);

  function find(v: unknown, path: string[]): InexactInteger | undefined {
    if (typeof v === 'number') {
      const literal = candidates.get(v);
      return literal === undefined ? undefined : { literal, parsed: v, path: [...path] };
    }
    const entries: [string, unknown][] = Array.isArray(v) ? v.map((item, i) => [String(i), item]) : isObject(v) ? Object.entries(v) : [];
    for (const [token, item] of entries) {
      path.push(token);
      const found = find(item, path);
      path.pop();
      if (found) return found;
    }
    return undefined;
  }
}

/** Why an inexact integer is refused, for error messages. */
export function inexactReason(found: InexactInteger): string {
  const literal = found.literal.length > 40 ? `${found.literal.slice(0, 24)}… (${found.literal.length} digits)` : found.literal;
  return `${literal} is an integer beyond ±${Number.MAX_SAFE_INTEGER}, which a JSON number cannot hold exactly (it would be stored as ${found.parsed}); send it as a string`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON pointer of a value from its tokens (RFC 6901), e.g. `/a~1b/0`. */
export function pointerOf(tokens: readonly string[]): string {
  return tokens.map((t) => '/' + t.replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}
