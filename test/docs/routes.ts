import type { Express } from 'express';
import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { isE164 } from '../../shared/validation';
import type { OpenApiDocument } from '../../api/openapi';

/** Mounted paths the reference does not describe: Bull Board's own UI and API, and Swagger UI's assets. */
export const UNDOCUMENTED_PREFIXES = ['/admin/queues', '/docs'];

export interface MountedRoute {
  method: string;
  /** OpenAPI template: `:id` → `{id}`, no trailing slash. */
  path: string;
}

interface RouterLayer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
  rawPath?: unknown;
}

function join(prefix: string, path: string): string {
  const joined = `${prefix}/${path}`.replace(/\/{2,}/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

/** Express 5 path syntax → OpenAPI; anything beyond plain segments and `:name` is refused so a new syntax is noticed. */
function toTemplate(path: string): string {
  if (/[{}*?()]/.test(path)) throw new Error(`route path ${path} uses syntax this check cannot map to OpenAPI; extend test/docs/routes.ts`);
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * Every route mounted on an Express 5 app. Router 2 records each layer's mount
 * path as given to `use()` in `layer.rawPath`; a route layer carries its
 * `route` (path and methods), a mounted router its own `handle.stack`.
 */
export function mountedRoutes(app: Express): MountedRoute[] {
  const out: MountedRoute[] = [];
  const walk = (stack: RouterLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== 'string') throw new Error(`route under ${prefix} has a non-string path; extend test/docs/routes.ts`);
        const path = toTemplate(join(prefix, layer.route.path));
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (!on) continue;
          if (method === '_all') throw new Error(`${path} is mounted with all(); document its methods explicitly`);
          out.push({ method, path });
        }
      } else if (layer.handle?.stack) {
        if (typeof layer.rawPath !== 'string') throw new Error(`a router under ${prefix || '/'} is mounted on a non-string path (router without rawPath?); extend test/docs/routes.ts`);
        walk(layer.handle.stack, join(prefix, layer.rawPath));
      }
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return out.filter((route) => !UNDOCUMENTED_PREFIXES.some((prefix) => route.path === prefix || route.path.startsWith(`${prefix}/`)));
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

export function documentedRoutes(document: OpenApiDocument): MountedRoute[] {
  const out: MountedRoute[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of Object.keys(item)) if (METHODS.includes(method)) out.push({ method, path });
  }
  return out;
}

const key = (route: MountedRoute) => `${route.method.toUpperCase()} ${route.path}`;

/** What is mounted but not documented, and what is documented but not mounted. */
export function compareRoutes(mounted: MountedRoute[], documented: MountedRoute[]): { undocumented: string[]; notMounted: string[] } {
  const mountedKeys = new Set(mounted.map(key));
  const documentedKeys = new Set(documented.map(key));
  return {
    undocumented: [...mountedKeys].filter((entry) => !documentedKeys.has(entry)).sort(),
    notMounted: [...documentedKeys].filter((entry) => !mountedKeys.has(entry)).sort(),
  };
}

const COMPONENT = '#/components/schemas/';
const urn = (name: string) => `urn:senderz:schema:${name}`;

function rewriteRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (!schema || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema as Record<string, unknown>).map(([field, value]) => [field, field === '$ref' && typeof value === 'string' && value.startsWith(COMPONENT) ? urn(value.slice(COMPONENT.length)) : rewriteRefs(value)]),
  );
}

/**
 * Closes every object schema (`unevaluatedProperties: false`, which sees
 * through allOf) so a response field the reference does not name fails the
 * contract test. The published document stays open for clients.
 */
function closed(schema: unknown, inComposition = false): unknown {
  if (Array.isArray(schema)) return schema.map((item) => closed(item, inComposition));
  if (!schema || typeof schema !== 'object') return schema;
  const source = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(source)) {
    if (field === 'allOf') out[field] = (value as unknown[]).map((branch) => closed(branch, true));
    else if (field === 'properties' || field === '$defs') {
      out[field] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([name, inner]) => [name, closed(inner)]));
    } else out[field] = closed(value);
  }
  const isObject = source.properties !== undefined || source.allOf !== undefined;
  if (isObject && !inComposition && source.additionalProperties === undefined && source.unevaluatedProperties === undefined) out.unevaluatedProperties = false;
  return out;
}

/**
 * JSON Schema 2020-12 (OpenAPI 3.1's dialect) over the document's schemas, in
 * strict mode: an unknown keyword, a bad type name or an unknown format in any
 * schema fails `compileComponents()`.
 */
export function documentSchemas(document: OpenApiDocument, options: { closed: boolean }) {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  ajv.addFormat('e164', { type: 'string', validate: isE164 });
  ajv.addFormat('ulid', { type: 'string', validate: (value: string) => /^(sb_)?[0-9A-HJKMNP-TV-Z]{26}$/.test(value) });
  const prepare = (schema: unknown) => {
    const rewritten = rewriteRefs(schema);
    return (options.closed ? closed(rewritten) : rewritten) as object;
  };
  for (const [name, schema] of Object.entries(document.components.schemas)) ajv.addSchema(prepare(schema), urn(name));

  return {
    compileComponents(): void {
      for (const name of Object.keys(document.components.schemas)) ajv.getSchema(urn(name));
    },
    compile(schema: unknown): ValidateFunction {
      return ajv.compile(prepare(schema));
    },
    /** The JSON schema of an operation's response, or of a parameter or body. */
    response(method: string, path: string, status: number): ValidateFunction {
      const operation = (document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)[path]?.[method.toLowerCase()];
      if (!operation) throw new Error(`${method} ${path} is not in the document`);
      let response = operation.responses[String(status)] as { $ref?: string; content?: Record<string, { schema: unknown }> } | undefined;
      if (!response) throw new Error(`${method} ${path} does not document status ${status}`);
      if (response.$ref) response = (document.components.responses as Record<string, typeof response>)[response.$ref.split('/').pop()!];
      const schema = response?.content?.['application/json']?.schema;
      if (!schema) throw new Error(`${method} ${path} ${status} has no JSON body`);
      return ajv.compile(prepare(schema));
    },
  };
}
