import fs from 'node:fs';
import express from 'express';
import { expect } from 'chai';
import SwaggerParser from '@apidevtools/swagger-parser';
import { buildOpenApiDocument, ROUTES, toOpenApiSchema } from '../../api/openapi';
import { operationsModule, OPERATIONS_FILE, SCHEMA_FILE, schemaTypes } from '../../sdk/scripts/generate-types';
import { api, harness } from '../helpers/harness';
import { compareRoutes, documentedRoutes, documentSchemas, mountedRoutes } from './routes';

type Operation = {
  operationId: string;
  security: unknown[];
  parameters?: { $ref?: string; name?: string; in?: string }[];
  requestBody?: unknown;
  responses: Record<string, { $ref?: string; headers?: Record<string, unknown> }>;
};

function operations(document: ReturnType<typeof buildOpenApiDocument>) {
  return Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ path, method, operation: operation as Operation })));
}

describe('OpenAPI reference', () => {
  const document = buildOpenApiDocument();

  it('when the document is built, then swagger-parser validates it as OpenAPI 3.1', async () => {
    const parsed = (await SwaggerParser.validate(structuredClone(document) as never)) as { openapi: string };
    expect(parsed.openapi).to.equal('3.1.0');
  });

  it('when the document is built, then every schema in it compiles as JSON Schema 2020-12 in strict mode', () => {
    const schemas = documentSchemas(document, { closed: false });
    schemas.compileComponents();
    for (const { path, method, operation } of operations(document)) {
      for (const status of Object.keys(operation.responses)) {
        const response = operation.responses[status] as { content?: Record<string, unknown> };
        if (response.content?.['application/json']) schemas.response(method, path, Number(status));
      }
    }
  });

  it('when the app is built, then every mounted route has exactly one operation and the document names no route that is not mounted', () => {
    const mounted = mountedRoutes(harness().app);
    expect(mounted.length, 'routes found on the app').to.be.greaterThan(50);
    const { undocumented, notMounted } = compareRoutes(mounted, documentedRoutes(document));
    expect(undocumented, 'mounted but missing from ROUTES in api/openapi.ts').to.deep.equal([]);
    expect(notMounted, 'in ROUTES but not mounted').to.deep.equal([]);
  });

  it('when a router gains a route without an entry, then the comparison names it (and an entry without a route)', () => {
    const app = express();
    const inner = express.Router();
    inner.get('/', (_req, res) => void res.end());
    inner.post('/:id/things', (_req, res) => void res.end());
    const outer = express.Router();
    outer.use('/widgets', inner);
    app.use('/v9', outer);
    app.get('/plain', (_req, res) => void res.end());
    const mounted = mountedRoutes(app);
    expect(mounted).to.deep.include.members([
      { method: 'get', path: '/v9/widgets' },
      { method: 'post', path: '/v9/widgets/{id}/things' },
      { method: 'get', path: '/plain' },
    ]);
    const result = compareRoutes(mounted, [
      { method: 'get', path: '/v9/widgets' },
      { method: 'get', path: '/gone' },
    ]);
    expect(result.undocumented).to.deep.equal(['GET /plain', 'POST /v9/widgets/{id}/things']);
    expect(result.notMounted).to.deep.equal(['GET /gone']);
  });

  it('when an operation has path parameters, then each is declared, required and named as in its template', () => {
    for (const { path, method, operation } of operations(document)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      const declared = (operation.parameters ?? []).filter((parameter) => parameter.in === 'path').map((parameter) => parameter.name);
      expect(declared, `${method.toUpperCase()} ${path}`).to.deep.equal(names);
    }
  });

  it('when a route is a tenant route, then it names both tenant schemes, 401/403/429, the rate-limit headers, and Idempotency-Key on POST', () => {
    const tenant = operations(document).filter(({ path }) => path.startsWith('/v1/'));
    expect(tenant.length).to.be.greaterThan(40);
    for (const { path, method, operation } of tenant) {
      const what = `${method.toUpperCase()} ${path}`;
      expect(operation.security, what).to.deep.equal([{ apiKey: [] }, { portalJwt: [] }]);
      expect(operation.responses, what).to.include.keys('401', '403', '429');
      const success = Object.entries(operation.responses).find(([status]) => status.startsWith('2'))![1];
      expect(success.headers, what).to.include.keys('X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset');
      const idempotency = (operation.parameters ?? []).some((parameter) => parameter.$ref === '#/components/parameters/IdempotencyKey');
      expect(idempotency, what).to.equal(method === 'post');
    }
    for (const { path, operation } of operations(document).filter(({ path }) => path.startsWith('/admin/'))) {
      expect(operation.security, path).to.deep.equal([{ operatorBearer: [] }, { operatorBasic: [] }]);
    }
    expect(document.components.responses.RateLimited.headers).to.include.keys('Retry-After');
  });

  it('when a schema uses ajv-only keywords, then the published copy is valid JSON Schema and keeps custom formats', () => {
    const converted = toOpenApiSchema({ type: 'object', errorMessage: 'x', properties: { to: { type: 'string', format: 'e164', nullable: true }, errorMessage: { type: 'string' } } });
    expect(converted).to.deep.equal({ type: 'object', properties: { to: { type: ['string', 'null'], format: 'e164' }, errorMessage: { type: 'string' } } });
    const schemas = documentSchemas(document, { closed: false });
    expect(schemas.compile(converted)({ to: null, errorMessage: 'a field, not a keyword' })).to.equal(true);
  });

  it('when a response carries a field the reference does not name, or lacks a required one, then the contract check refuses it', () => {
    const schemas = documentSchemas(document, { closed: true });
    const message = {
      id: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      direction: 'outbound',
      from: null,
      to: '+15551234567',
      body: 'hi',
      channel: 'auto',
      message_type: 'alert',
      status: 'queued',
      reason: null,
      campaign_id: null,
      client_reference: null,
      status_callback: null,
      send_at: null,
      sandbox: false,
      was_downgraded: false,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
      sent_at: null,
      delivered_at: null,
      read_at: null,
      media: [] as unknown[],
    };
    const getMessage = schemas.response('GET', '/v1/messages/{id}', 200);
    expect(getMessage({ data: message })).to.equal(true);
    expect(getMessage({ data: { ...message, tenant_id: 'x' } })).to.equal(false);
    const { status: _status, ...withoutStatus } = message;
    expect(getMessage({ data: withoutStatus })).to.equal(false);
    expect(getMessage({ data: message, extra: 1 })).to.equal(false);

    // allOf (a key plus its secret, shown once): closed across both parts.
    const key = { id: 'k', name: 'n', prefix: 'tf_live', key_hint: 'abcd', permissions: 'full', rate_limit: null, status: 'active', sandbox: false, last_used_at: null, created_at: '2026-01-01T00:00:00.000Z' };
    const createKey = schemas.response('POST', '/v1/api-keys', 201);
    expect(createKey({ data: { ...key, key: 'tf_live_x' } })).to.equal(true);
    expect(createKey({ data: { ...key, key: 'tf_live_x', key_hash: 'h' } })).to.equal(false);
    expect(createKey({ data: key })).to.equal(false);
  });

  it('when two entries describe the same route, then building the document fails', () => {
    expect(() => buildOpenApiDocument([ROUTES[0], ROUTES[0]])).to.throw(/two ROUTES entries/);
  });

  it('when GET /openapi.json and /docs are called without a credential, then they answer the document and the interactive reference', async () => {
    const json = await api().get('/openapi.json');
    expect(json.status).to.equal(200);
    expect(json.headers['content-type']).to.match(/application\/json/);
    expect(json.body).to.deep.equal(JSON.parse(JSON.stringify(document)));

    const redirect = await api().get('/docs');
    expect(redirect.status).to.equal(301);
    expect(redirect.headers.location).to.equal('/docs/');
    const page = await api().get('/docs/');
    expect(page.status).to.equal(200);
    expect(page.text).to.contain('swagger-ui');
    const init = await api().get('/docs/swagger-ui-init.js');
    expect(init.status).to.equal(200);
    expect(init.text).to.contain('"/openapi.json"');
    const css = await api().get('/docs/swagger-ui.css');
    expect(css.status).to.equal(200);
  });

  it('when the SDK is built, then its committed generated files are what `npm run sdk:types` produces from this document', async function () {
    this.timeout(60000);
    const hint = 'run `npm run sdk:types` and commit sdk/src/schema.d.ts and sdk/src/operations.ts';
    expect(fs.readFileSync(OPERATIONS_FILE, 'utf8') === operationsModule(document), `${OPERATIONS_FILE} is stale: ${hint}`).to.equal(true);
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8') === (await schemaTypes(document)), `${SCHEMA_FILE} is stale: ${hint}`).to.equal(true);
  });
});
