import { InletError } from './errors.js';

/** Labels of a journal: `key=value` metadata. */
export type Labels = Readonly<Record<string, string>>;

type Requirement =
  | { key: string; op: 'in'; values: string[] }
  | { key: string; op: 'notin'; values: string[] }
  | { key: string; op: 'exists' }
  | { key: string; op: '!exists' };

/**
 * A label selector: `a=b,c!=d,e in (x,y),f notin (z),g,!h`. All requirements must hold.
 * `a=b` and `a in (b)` are the same requirement; `c!=d` matches journals without `c` too.
 */
export class Selector {
  private constructor(readonly requirements: readonly Requirement[], readonly source: string) {}

  static parse(source: string): Selector {
    const reqs: Requirement[] = [];
    const fail = (why: string): never => {
      throw new InletError('INVALID_SELECTOR', `label selector ${JSON.stringify(source)}: ${why}`);
    };
    for (const term of splitTerms(source)) {
      let m: RegExpMatchArray | null;
      if ((m = term.match(/^([^\s=!(),]+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
        const values = m[3]!.split(',').map((v) => v.trim());
        if (values.some((v) => v === '')) fail(`empty value in ${JSON.stringify(term)}`);
        reqs.push({ key: m[1]!, op: m[2] as 'in' | 'notin', values });
      } else if ((m = term.match(/^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/))) {
        reqs.push({ key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] });
      } else if ((m = term.match(/^!\s*([^\s=!(),]+)$/))) {
        reqs.push({ key: m[1]!, op: '!exists' });
      } else if ((m = term.match(/^([^\s=!(),]+)$/))) {
        reqs.push({ key: m[1]!, op: 'exists' });
      } else {
        fail(`cannot parse ${JSON.stringify(term)}`);
      }
    }
    return new Selector(reqs, source);
  }

  matches(labels: Labels): boolean {
    return this.requirements.every((r) => {
      const has = Object.prototype.hasOwnProperty.call(labels, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case '!exists':
          return !has;
        case 'in':
          return has && r.values.includes(labels[r.key]!);
        case 'notin':
          return !has || !r.values.includes(labels[r.key]!);
      }
    });
  }
}

/** Splits on commas outside parentheses; blank input selects everything. */
function splitTerms(source: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= source.length; i++) {
    const c = source[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ',' && depth === 0) || c === undefined) {
      const term = source.slice(start, i).trim();
      if (term !== '') terms.push(term);
      start = i + 1;
    }
  }
  return terms;
}
