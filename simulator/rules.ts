// Deterministic stand-ins for "can this recipient get iMessage / RCS?", so tests can pick a
// number's capabilities by its last digit without any configuration.

/**
 * - `'even-last-digit'`: capable when the number ends in 0, 2, 4, 6 or 8 (default iMessage rule).
 * - `'odd-last-digit-except-9'`: capable when it ends in 1, 3, 5 or 7 (default RCS rule).
 * - `'all'` / `'none'`.
 * - an array of E.164 numbers: exactly those.
 * - `{ pattern }`: a regular expression (JavaScript syntax) tested against the E.164 number.
 */
export type NumberRule =
  | 'even-last-digit'
  | 'odd-last-digit-except-9'
  | 'all'
  | 'none'
  | string[]
  | { pattern: string };

export const DEFAULT_IMESSAGE_RULE: NumberRule = 'even-last-digit';
export const DEFAULT_RCS_RULE: NumberRule = 'odd-last-digit-except-9';

const NAMED_RULES = new Set(['even-last-digit', 'odd-last-digit-except-9', 'all', 'none']);

export const E164_PATTERN = /^\+[1-9]\d{1,14}$/;

export function isE164(value: unknown): value is string {
  return typeof value === 'string' && E164_PATTERN.test(value);
}

export function numberMatchesRule(rule: NumberRule, number: string): boolean {
  if (Array.isArray(rule)) return rule.includes(number);
  if (typeof rule === 'object') return new RegExp(rule.pattern).test(number);
  const lastDigit = Number(number.at(-1));
  switch (rule) {
    case 'all':
      return true;
    case 'none':
      return false;
    case 'even-last-digit':
      return lastDigit % 2 === 0;
    case 'odd-last-digit-except-9':
      return lastDigit % 2 === 1 && lastDigit !== 9;
  }
}

export type ParsedRule = { rule: NumberRule } | { error: string };

/** Validates a rule that arrived as JSON. */
export function parseNumberRule(value: unknown): ParsedRule {
  if (typeof value === 'string') {
    return NAMED_RULES.has(value) ? { rule: value as NumberRule } : { error: `unknown rule name "${value}"` };
  }
  if (Array.isArray(value)) {
    return value.every(isE164) ? { rule: [...value] } : { error: 'a rule list must contain only E.164 numbers' };
  }
  if (value !== null && typeof value === 'object' && typeof (value as { pattern?: unknown }).pattern === 'string') {
    const pattern = (value as { pattern: string }).pattern;
    try {
      new RegExp(pattern);
    } catch {
      return { error: `invalid regular expression "${pattern}"` };
    }
    return { rule: { pattern } };
  }
  return { error: 'a rule is a name, a list of numbers or {"pattern": "<regex>"}' };
}
