import { formatPointer, isObject } from '../doc/json.js';

/**
 * How the actual documents of a verify step differ from the expected ones, as lines (empty
 * when they match). Both lists are in key order. They match when they have the same length and
 * each expected document matches the actual one at its index: every property it gives is equal
 * (objects recursively; properties it leaves out are ignored), and arrays have equal length and
 * matching items. Each difference names the index and JSON pointer, the expected and the actual
 * value; missing and unexpected documents are named whole.
 */
export function diffDocuments(expected: readonly unknown[], actual: readonly unknown[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.min(expected.length, actual.length); i++) {
    const diffs: string[] = [];
    diffValue(expected[i], actual[i], [], diffs);
    if (diffs.length > 0) out.push(`actual and expected documents don't match at index ${i}: ${diffs.join('; ')}`);
  }
  for (let i = actual.length; i < expected.length; i++) out.push(`missing document at index ${i}: expected ${show(expected[i])}`);
  for (let i = expected.length; i < actual.length; i++) out.push(`unexpected document at index ${i}: actual ${show(actual[i])}`);
  if (expected.length !== actual.length) out.unshift(`expected ${count(expected.length)}, actual ${count(actual.length)}`);
  return out;
}

function diffValue(expected: unknown, actual: unknown, path: string[], out: string[]): void {
  const at = () => formatPointer(path) || '(root)';
  if (isObject(expected)) {
    if (!isObject(actual)) return void out.push(`${at()}: expected ${show(expected)}, actual ${show(actual)}`);
    for (const [k, v] of Object.entries(expected)) {
      if (!(k in actual)) out.push(`${formatPointer([...path, k])}: expected ${show(v)}, actual (absent)`);
      else diffValue(v, actual[k], [...path, k], out);
    }
  } else if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return void out.push(`${at()}: expected ${show(expected)}, actual ${show(actual)}`);
    expected.forEach((v, i) => diffValue(v, actual[i], [...path, String(i)], out));
  } else if (expected !== actual) {
    out.push(`${at()}: expected ${show(expected)}, actual ${show(actual)}`);
  }
}

function show(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}

function count(n: number): string {
  return `${n} document${n === 1 ? '' : 's'}`;
}
