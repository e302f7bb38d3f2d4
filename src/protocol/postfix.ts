import { InletError } from './errors.js';

/** The postfix every journal gets unless its spec says otherwise. */
export const DEFAULT_POSTFIX_TEMPLATE = 'utc_date=%Y-%m-%d/utc_hour=%H';

const TOKEN = /%([YmdHM%])/g;

/**
 * Renders a path postfix template for a fragment's first append: `%Y %m %d %H %M` are its UTC
 * year, month, day, hour and minute; `%%` is a percent sign.
 */
export function renderPostfix(template: string, at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return template.replace(TOKEN, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(at.getUTCFullYear());
      case 'm':
        return pad(at.getUTCMonth() + 1);
      case 'd':
        return pad(at.getUTCDate());
      case 'H':
        return pad(at.getUTCHours());
      case 'M':
        return pad(at.getUTCMinutes());
      default:
        return '%';
    }
  });
}

/**
 * Checks a rendered postfix is a relative path of real segments: none empty, `.` or `..`.
 * A postfix that fails would put fragments outside their journal's folder (or its store).
 */
export function checkPostfix(postfix: string, what: string): void {
  if (postfix === '') return;
  for (const segment of postfix.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InletError('INVALID_SPEC', `${what} ${JSON.stringify(postfix)}: segments must not be empty, . or ..`);
    }
  }
}

/**
 * Checks a template: only the tokens above after a `%`, and every rendering a relative path of
 * real segments (tokens render digits, so one sample decides). Throws INVALID_SPEC naming `field`.
 */
export function checkPostfixTemplate(template: string, field = 'fragment.pathPostfixTemplate'): void {
  if (/%/.test(template.replace(TOKEN, ''))) {
    throw new InletError('INVALID_SPEC', `${field} ${JSON.stringify(template)}: use %Y %m %d %H %M (or %%) between / separators`);
  }
  checkPostfix(renderPostfix(template, new Date(0)), field);
}

/**
 * The `key` of each `key=…` segment of a template (`utc_date`, `utc_hour` for the default).
 * A journal name with such a segment would read as another journal's postfix in the lake.
 */
export function templateKeys(template: string): string[] {
  return template
    .split('/')
    .map((s) => /^([^=%]+)=/.exec(s)?.[1])
    .filter((k): k is string => k !== undefined);
}

/** A pattern that matches exactly the postfixes `template` renders. */
export function postfixPattern(template: string): RegExp {
  const source = template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(TOKEN, (_, c: string) => (c === 'Y' ? '\\d{4}' : c === '%' ? '%' : '\\d{2}'));
  return new RegExp(`^${source}$`);
}
