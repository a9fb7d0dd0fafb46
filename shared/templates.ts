import { AppError } from './errors';

/**
 * Logic-less templates: `{{name}}` or `{{ metadata.plan }}` is replaced by the
 * value at that path in the data, and nothing else is interpreted — no code,
 * no helpers, no partials, no HTML escaping (these are text messages).
 */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;

export function templateVariables(body: string): string[] {
  const names = new Set<string>();
  for (const match of body.matchAll(PLACEHOLDER)) names.add(match[1]);
  return [...names];
}

function lookup(data: Record<string, unknown>, path: string): unknown {
  let value: unknown = data;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

export class MissingTemplateVariableError extends AppError {
  constructor(readonly variables: string[]) {
    super(400, 'MISSING_TEMPLATE_VAR', `Missing template variable${variables.length > 1 ? 's' : ''}: ${variables.join(', ')}.`, variables.map((name) => ({ path: `data.${name}`, message: 'is required by the template' })));
  }
}

export function renderTemplate(body: string, data: Record<string, unknown>): string {
  const missing = templateVariables(body).filter((name) => {
    const value = lookup(data, name);
    return value === undefined || value === null || typeof value === 'object';
  });
  if (missing.length > 0) throw new MissingTemplateVariableError(missing);
  return body.replace(PLACEHOLDER, (_whole, name: string) => String(lookup(data, name)));
}
