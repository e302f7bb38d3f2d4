import { InletError } from './errors.js';

/**
 * Throws INVALID_CONTENT when `value` nests objects and arrays deeper than `max` (a top-level
 * object or array is depth 1). Walks without recursion, so any depth is checked safely: JSON
 * nested 100,000 deep used to overflow the stack later and answer 500.
 */
export function checkJsonDepth(value: unknown, max: number, what: string, flag = ''): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) throw new InletError('INVALID_CONTENT', `${what} nests objects and arrays deeper than ${max} levels${flag ? ` (${flag})` : ''}`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}
