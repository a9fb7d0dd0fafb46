import type { Express } from 'express';
import fc from 'fast-check';

/**
 * The routes an Express app really mounts, read from its router stack (so a
 * route added tomorrow is covered without editing a list), and request-body
 * arbitraries derived from the app's own OpenAPI document when it has one.
 */

export interface MountedRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express syntax: /v1/contacts/:id */
  path: string;
  params: string[];
}

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: unknown;
}

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);

function join(prefix: string, path: string): string {
  const joined = `${prefix}/${path}`.replace(/\/+/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

function walk(stack: Layer[], prefix: string, out: MountedRoute[]): void {
  for (const layer of stack) {
    if (layer.route) {
      if (typeof layer.route.path !== 'string') continue;
      const path = join(prefix, layer.route.path);
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (!on || !METHODS.has(method)) continue;
        out.push({ method: method as MountedRoute['method'], path, params: [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1]) });
      }
    } else if (layer.handle?.stack && typeof layer.rawPath === 'string') {
      walk(layer.handle.stack, join(prefix, layer.rawPath), out);
    }
  }
}

export function mountedRoutes(app: Express): MountedRoute[] {
  const router = (app as unknown as { router: { stack: Layer[] } }).router;
  const out: MountedRoute[] = [];
  walk(router.stack, '', out);
  const seen = new Set<string>();
  return out.filter((route) => {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function fillPath(route: MountedRoute, values: Record<string, string>): string {
  return route.path.replace(/:([A-Za-z0-9_]+)/g, (_whole, name: string) => values[name] ?? 'x');
}

type Schema = Record<string, unknown>;
type OpenApi = { paths?: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: Schema }> } }>>; components?: { schemas?: Record<string, Schema> } };

/** Values the generator uses where a schema asks for a phone number, an id or a URL: the caller's own. */
export interface Vocabulary {
  phoneNumbers: string[];
  ids: string[];
  urls: string[];
}

function resolve(doc: OpenApi, schema: Schema): Schema {
  let current = schema;
  for (let depth = 0; depth < 10 && typeof current.$ref === 'string'; depth += 1) {
    const name = (current.$ref as string).split('/').pop() as string;
    current = doc.components?.schemas?.[name] ?? {};
  }
  return current;
}

function stringFor(schema: Schema, vocabulary: Vocabulary, name: string): fc.Arbitrary<string> {
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = Math.max(min, Math.min(typeof schema.maxLength === 'number' ? schema.maxLength : 40, 40));
  if (schema.format === 'e164' || /phone|number|^to$|^from|recipients|handoff/.test(name)) return fc.constantFrom(...vocabulary.phoneNumbers);
  if (schema.format === 'ulid' || /(^id$|_id$|_ids$)/.test(name)) return fc.oneof(fc.constantFrom(...vocabulary.ids), fc.constant('01ARZ3NDEKTSV4RRFFQ69G5FAV'));
  if (/url$/i.test(name) || schema.format === 'uri' || schema.format === 'url') return fc.constantFrom(...vocabulary.urls);
  if (schema.format === 'email') return fc.constantFrom('a@example.com', 'someone@example.org', 'not-an-email');
  if (schema.format === 'date-time') return fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((date) => date.toISOString());
  if (schema.format === 'date') return fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((date) => date.toISOString().slice(0, 10));
  if (schema.format === 'ipv4') return fc.ipV4();
  if (typeof schema.pattern === 'string') {
    try {
      return fc.stringMatching(new RegExp(schema.pattern)).filter((value) => value.length >= min && value.length <= (typeof schema.maxLength === 'number' ? schema.maxLength : 1e6));
    } catch {
      // a pattern JavaScript cannot read: plain strings below
    }
  }
  return fc.string({ minLength: min, maxLength: max, unit: 'grapheme' });
}

/** An arbitrary of (mostly) valid values for a JSON schema, as far as a few keywords go. */
export function arbitraryFor(doc: OpenApi, input: Schema, vocabulary: Vocabulary, name = '', depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(doc, input);
  if (depth > 6) return fc.constant(null);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ('const' in schema) return fc.constant(schema.const);
  for (const key of ['oneOf', 'anyOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) {
      const base = { ...schema };
      delete base[key];
      return fc.oneof(...options.map((option: Schema) => arbitraryFor(doc, { ...base, ...resolve(doc, option) }, vocabulary, name, depth + 1)));
    }
  }
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : typeof schema.type === 'string' ? [schema.type] : schema.properties ? ['object'] : ['string', 'number', 'boolean'];
  return fc.oneof(
    ...types.map((type): fc.Arbitrary<unknown> => {
      switch (type) {
        case 'null':
          return fc.constant(null);
        case 'boolean':
          return fc.boolean();
        case 'integer':
          return fc.integer({ min: typeof schema.minimum === 'number' ? schema.minimum : -1000, max: typeof schema.maximum === 'number' ? schema.maximum : 100000 });
        case 'number':
          return fc.double({ min: typeof schema.minimum === 'number' ? schema.minimum : -1e6, max: typeof schema.maximum === 'number' ? schema.maximum : 1e6, noNaN: true });
        case 'string':
          return stringFor(schema, vocabulary, name);
        case 'array': {
          const items = (schema.items as Schema | undefined) ?? {};
          const minLength = typeof schema.minItems === 'number' ? schema.minItems : 0;
          return fc.array(arbitraryFor(doc, items, vocabulary, name, depth + 1), { minLength, maxLength: Math.max(minLength, Math.min(typeof schema.maxItems === 'number' ? schema.maxItems : 4, 4)) });
        }
        case 'object': {
          const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
          const required = new Set((schema.required as string[] | undefined) ?? []);
          const shape: Record<string, fc.Arbitrary<unknown>> = {};
          for (const [key, value] of Object.entries(properties)) shape[key] = arbitraryFor(doc, value, vocabulary, key, depth + 1);
          const record = fc.record(shape, { requiredKeys: [...required].filter((key) => key in shape) }) as fc.Arbitrary<Record<string, unknown>>;
          const extra = schema.additionalProperties;
          if (extra && typeof extra === 'object' && Object.keys(properties).length === 0) {
            return fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), arbitraryFor(doc, extra as Schema, vocabulary, name, depth + 1), { maxKeys: 4 });
          }
          return record;
        }
        default:
          return fc.jsonValue({ maxDepth: 2 });
      }
    }),
  );
}

/** One change that should make a valid body invalid (or at least unusual). */
export function mutated(sample: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.tuple(sample, fc.nat(), fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('drop', 'add', 'retype', 'huge', 'null', 'nul', 'wrap')).map(([value, pick, junk, how]) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return how === 'wrap' ? [value] : junk;
    const copy = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const key = keys.length > 0 ? keys[pick % keys.length] : 'phone_number';
    switch (how) {
      case 'drop':
        delete copy[key];
        return copy;
      case 'add':
        return { ...copy, [['tenant_id', 'status', 'is_sandbox', 'id', '__proto__', 'constructor', 'unknown_field'][pick % 7]]: junk };
      case 'retype':
        return { ...copy, [key]: junk };
      case 'huge':
        return { ...copy, [key]: 'x'.repeat(5000 + (pick % 5000)) };
      case 'null':
        return { ...copy, [key]: null };
      case 'nul':
        // A NUL character: valid JSON, valid JavaScript, refused by PostgreSQL text columns.
        return { ...copy, [key]: typeof copy[key] === 'string' ? `${copy[key] as string}\u0000` : 'a\u0000b' };
      default:
        return [copy];
    }
  });
}

/** The request-body schema an OpenAPI document gives for a route, if any. */
export function bodySchemaOf(doc: OpenApi | null, route: MountedRoute): Schema | null {
  if (!doc?.paths) return null;
  const openApiPath = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  const operation = doc.paths[openApiPath]?.[route.method] ?? doc.paths[`${openApiPath}/`]?.[route.method];
  return operation?.requestBody?.content?.['application/json']?.schema ?? null;
}
