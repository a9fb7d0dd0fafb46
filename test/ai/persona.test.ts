import { expect } from 'chai';
import type supertest from 'supertest';
import { api, createTenant, harness } from '../helpers/harness';
import { withTenant } from '../../shared/db/tenant';
import { decryptSecret } from '../../shared/crypto';
import { newId } from '../../shared/ids';
import { MAX_SOURCES_PER_TENANT, MAX_TEXT_SOURCE_CHARS, MAX_TOTAL_SOURCE_CHARS } from '../../shared/schemas/ai';
import { addSources, putPersona, SHOP_FAQ } from './helpers';

function expectError(res: supertest.Response, status: number, code: string, path?: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.body.code).to.equal(code);
  if (path) expect(res.body.details.map((detail: { path: string }) => detail.path)).to.include(path);
}

describe('AI persona and training sources API', () => {
  describe('persona', () => {
    it('when a tenant never set a persona, then GET answers the defaults with auto-reply off', async () => {
      const a = await createTenant();
      const res = await api().get('/v1/ai/persona').set(a.auth);
      expect(res.status).to.equal(200);
      expect(res.body.data).to.include({ business_name: null, auto_reply_enabled: false, provider: null, voice_handoff_number: null });
    });

    it('when PUT sets some fields, then they are stored, the others keep their value, and GET returns them', async () => {
      const a = await createTenant();
      await putPersona(a, { business_name: 'Maple & Thread', voice_handoff_number: '+15035550100', tone: 'warm' });
      const second = await putPersona(a, { auto_reply_enabled: true, instructions: 'Be brief.' });
      expect(second).to.include({ business_name: 'Maple & Thread', voice_handoff_number: '+15035550100', tone: 'warm', auto_reply_enabled: true, instructions: 'Be brief.' });
      const cleared = await putPersona(a, { tone: null });
      expect(cleared.tone).to.equal(null);
      const read = await api().get('/v1/ai/persona').set(a.auth);
      expect(read.body.data).to.include({ business_name: 'Maple & Thread', auto_reply_enabled: true, tone: null });
      expect(JSON.stringify(read.body)).not.to.contain(a.id);
    });

    it('when a provider is set with a key, then the key is stored encrypted and never returned', async () => {
      const a = await createTenant();
      const secret = 'sk-test-provider-key-1234567890';
      const data = await putPersona(a, { provider: { base_url: 'https://llm.example.com/v1', model: 'small-model', api_key: secret } });
      expect(data.provider).to.deep.equal({ base_url: 'https://llm.example.com/v1', model: 'small-model', api_key_set: true });
      const read = await api().get('/v1/ai/persona').set(a.auth);
      expect(JSON.stringify(read.body)).not.to.contain(secret);
      const row = await harness().db.owner('ai_personas').where({ tenant_id: a.id }).first();
      expect(row.provider_api_key_encrypted).to.be.a('string').and.not.contain(secret);
      expect(decryptSecret(harness().config.encryptionKey, row.provider_api_key_encrypted)).to.equal(secret);
    });

    it('when the provider is updated without a key, then the key is kept for the same base URL and dropped for another; null removes the provider', async () => {
      const a = await createTenant();
      await putPersona(a, { provider: { base_url: 'https://llm.example.com/v1', model: 'm1', api_key: 'sk-one-1234567890' } });
      const sameHost = await putPersona(a, { provider: { base_url: 'https://llm.example.com/v1', model: 'm2' } });
      expect(sameHost.provider).to.deep.equal({ base_url: 'https://llm.example.com/v1', model: 'm2', api_key_set: true });
      const otherHost = await putPersona(a, { provider: { base_url: 'https://other.example.com/v1', model: 'm2' } });
      expect(otherHost.provider).to.deep.equal({ base_url: 'https://other.example.com/v1', model: 'm2', api_key_set: false });
      const removed = await putPersona(a, { provider: null });
      expect(removed.provider).to.equal(null);
      const row = await harness().db.owner('ai_personas').where({ tenant_id: a.id }).first();
      expect(row).to.include({ provider_base_url: null, provider_model: null, provider_api_key_encrypted: null });
    });

    it('when PUT carries invalid or unknown fields, then 400 names them and nothing is stored', async () => {
      const a = await createTenant();
      expectError(await api().put('/v1/ai/persona').set(a.auth).send({ voice_handoff_number: '555-0100' }), 400, 'VALIDATION_ERROR', 'voice_handoff_number');
      expectError(await api().put('/v1/ai/persona').set(a.auth).send({ tenant_id: a.id }), 400, 'VALIDATION_ERROR', 'tenant_id');
      expectError(await api().put('/v1/ai/persona').set(a.auth).send({}), 400, 'VALIDATION_ERROR');
      expectError(await api().put('/v1/ai/persona').set(a.auth).send({ auto_reply_enabled: 'yes' }), 400, 'VALIDATION_ERROR', 'auto_reply_enabled');
      expectError(await api().put('/v1/ai/persona').set(a.auth).send({ provider: { base_url: 'ftp://x.example.com', model: 'm' } }), 400, 'VALIDATION_ERROR');
      expectError(await api().put('/v1/ai/persona').set(a.auth).send({ provider: { base_url: 'https://x.example.com', model: 'm', secret: 'x' } }), 400, 'VALIDATION_ERROR', 'provider.secret');
      expect(await harness().db.owner('ai_personas').where({ tenant_id: a.id })).to.have.length(0);
    });

    it('when the provider URL is a link-local or metadata address (even where private networks are allowed) or carries credentials, then 400', async () => {
      const a = await createTenant();
      for (const base of ['http://169.254.169.254/latest', 'http://[fe80::1]/v1', 'http://[::ffff:169.254.169.254]/v1', 'https://user:pass@llm.example.com/v1']) {
        expectError(await api().put('/v1/ai/persona').set(a.auth).send({ provider: { base_url: base, model: 'm' } }), 400, 'VALIDATION_ERROR', 'provider.base_url');
      }
    });
  });

  describe('training sources', () => {
    it('when a text and an FAQ source are created, then each is returned in its own shape and can be read, listed and deleted', async () => {
      const a = await createTenant();
      const text = await api().post('/v1/ai/sources').set(a.auth).send({ type: 'text', title: 'About', content: 'We are a bakery.' });
      expect(text.status, JSON.stringify(text.body)).to.equal(201);
      expect(text.body.data).to.include({ type: 'text', title: 'About', content: 'We are a bakery.' });
      expect(text.body.data).not.to.have.property('question');
      const faq = await api().post('/v1/ai/sources').set(a.auth).send({ type: 'faq', question: 'Do you deliver?', answer: 'Yes, within 5 miles.' });
      expect(faq.status).to.equal(201);
      expect(faq.body.data).to.include({ type: 'faq', question: 'Do you deliver?', answer: 'Yes, within 5 miles.' });

      const got = await api().get(`/v1/ai/sources/${faq.body.data.id}`).set(a.auth);
      expect(got.status).to.equal(200);
      expect(got.body.data.id).to.equal(faq.body.data.id);
      const list = await api().get('/v1/ai/sources').set(a.auth);
      expect(list.body.data.map((row: { id: string }) => row.id)).to.deep.equal([faq.body.data.id, text.body.data.id]);
      const onlyFaq = await api().get('/v1/ai/sources?type=faq').set(a.auth);
      expect(onlyFaq.body.data.map((row: { id: string }) => row.id)).to.deep.equal([faq.body.data.id]);
      const page = await api().get('/v1/ai/sources?limit=1').set(a.auth);
      expect(page.body.data).to.have.length(1);
      const next = await api().get(`/v1/ai/sources?limit=1&cursor=${page.body.next_cursor}`).set(a.auth);
      expect(next.body.data[0].id).to.equal(text.body.data.id);

      const deleted = await api().delete(`/v1/ai/sources/${text.body.data.id}`).set(a.auth);
      expect(deleted.status).to.equal(200);
      expectError(await api().get(`/v1/ai/sources/${text.body.data.id}`).set(a.auth), 404, 'NOT_FOUND');
      expectError(await api().delete(`/v1/ai/sources/${text.body.data.id}`).set(a.auth), 404, 'NOT_FOUND');
    });

    it('when a source is malformed, then 400 names the field of the shape its type asks for', async () => {
      const a = await createTenant();
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'faq', question: 'Q?' }), 400, 'VALIDATION_ERROR', 'answer');
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'text', content: 'x' }), 400, 'VALIDATION_ERROR', 'title');
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'faq', question: 'Q?', answer: 'A', title: 'T' }), 400, 'VALIDATION_ERROR', 'title');
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'pdf', url: 'x' }), 400, 'VALIDATION_ERROR', 'type');
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ title: 'T', content: 'C' }), 400, 'VALIDATION_ERROR', 'type');
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'text', title: 'T', content: '   ' }), 400, 'VALIDATION_ERROR', 'content');
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'text', title: 'T', content: 'x'.repeat(20001) }), 400, 'VALIDATION_ERROR', 'content');
      const atLimit = await api().post('/v1/ai/sources').set(a.auth).send({ type: 'text', title: 'T', content: 'word '.repeat(4000) });
      expect(atLimit.status, JSON.stringify(atLimit.body).slice(0, 200)).to.equal(201);
      expect(await harness().db.owner('ai_sources').where({ tenant_id: a.id })).to.have.length(1);
    });

    it(`when a tenant already has ${MAX_SOURCES_PER_TENANT} sources, then another is refused with 409 and the count stays`, async () => {
      const a = await createTenant();
      await withTenant(harness().db.app, a.id, (t) =>
        t.insert(
          'ai_sources',
          Array.from({ length: MAX_SOURCES_PER_TENANT }, (_, index) => ({ id: newId(), type: 'faq', question: `Q${index}?`, answer: `A${index}` })),
        ),
      );
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'faq', question: 'One more?', answer: 'No.' }), 409, 'LIMIT_EXCEEDED');
      const [{ n }] = await harness().db.owner('ai_sources').where({ tenant_id: a.id }).count({ n: '*' });
      expect(Number(n)).to.equal(MAX_SOURCES_PER_TENANT);
      // Another tenant's cap is its own.
      const b = await createTenant();
      expect((await api().post('/v1/ai/sources').set(b.auth).send({ type: 'faq', question: 'Q?', answer: 'A' })).status).to.equal(201);
    });
    it('when a tenant\'s sources already hold the total character budget, then another is refused with 409', async () => {
      const a = await createTenant();
      const full = MAX_TOTAL_SOURCE_CHARS / MAX_TEXT_SOURCE_CHARS;
      await withTenant(harness().db.app, a.id, (t) =>
        t.insert(
          'ai_sources',
          Array.from({ length: full - 1 }, (_, index) => ({ id: newId(), type: 'text', title: `T${index}`.padEnd(10, '.'), content: 'x'.repeat(MAX_TEXT_SOURCE_CHARS - 10) })),
        ),
      );
      const last = await api().post('/v1/ai/sources').set(a.auth).send({ type: 'text', title: 'Last', content: 'y'.repeat(MAX_TEXT_SOURCE_CHARS - 4) });
      expect(last.status, JSON.stringify(last.body)).to.equal(201);
      expectError(await api().post('/v1/ai/sources').set(a.auth).send({ type: 'faq', question: 'Q?', answer: 'A' }), 409, 'LIMIT_EXCEEDED');
    });
  });

  describe('preview', () => {
    it('when the question matches an FAQ, then the preview shows its answer, the offline responder and the source id', async () => {
      const a = await createTenant();
      const ids = await addSources(a, SHOP_FAQ);
      const res = await api().post('/v1/ai/persona/preview').set(a.auth).send({ message: 'Hi! What are your hours on Saturday?' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.data).to.deep.include({ responder: 'offline', kind: 'faq', source_ids: [ids[0]], auto_reply_enabled: false });
      expect(res.body.data.reply).to.equal(SHOP_FAQ[0].answer);
    });

    it('when nothing matches, then the preview is the hand-off line with the voice number', async () => {
      const a = await createTenant();
      await addSources(a, SHOP_FAQ);
      await putPersona(a, { business_name: 'Maple & Thread', voice_handoff_number: '+15035550100' });
      const res = await api().post('/v1/ai/persona/preview').set(a.auth).send({ message: 'Do you sell pizza?' });
      expect(res.body.data).to.deep.include({ responder: 'offline', kind: 'handoff', source_ids: [] });
      expect(res.body.data.reply).to.contain('Maple & Thread').and.contain('+15035550100');
    });

    it('when the preview body is missing or has unknown fields, then 400', async () => {
      const a = await createTenant();
      expectError(await api().post('/v1/ai/persona/preview').set(a.auth).send({}), 400, 'VALIDATION_ERROR', 'message');
      expectError(await api().post('/v1/ai/persona/preview').set(a.auth).send({ message: 'hi', tenant_id: a.id }), 400, 'VALIDATION_ERROR', 'tenant_id');
    });
  });
});
