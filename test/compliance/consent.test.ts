import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { withTenant } from '../../shared/db/tenant';
import { newId } from '../../shared/ids';
import { csvField } from '../../shared/compliance/csv';
import { fictionalNumber } from './helpers';

function record(tenant: TestTenant, body: Record<string, unknown>) {
  return api().post('/v1/compliance/consent').set(tenant.auth).send(body);
}

/** A minimal RFC 4180 reader for the assertions (quoted fields, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 1;
    } else field += char;
  }
  if (field || row.length) rows.push([...row, field]);
  return rows;
}

describe('consent ledger (TCPA)', () => {
  it('when consent is recorded with every field, then 201 and the entry is stored as given', async () => {
    const tenant = await createTenant();
    const phone = fictionalNumber();
    const res = await record(tenant, {
      phone_number: phone,
      consent_type: 'express_written',
      consent_source: 'https://example.com/signup',
      disclosure_text: 'By checking this box you agree to receive marketing texts.',
      disclosure_version: 'v3',
      ip_address: '203.0.113.7',
      user_agent: 'Mozilla/5.0 (iPhone)',
      consented_at: '2026-11-01T10:00:00.000Z',
      metadata: { form: 'checkout', checkbox: true },
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    expect(res.body.data).to.include({
      phone_number: phone,
      consent_type: 'express_written',
      consent_source: 'https://example.com/signup',
      disclosure_version: 'v3',
      ip_address: '203.0.113.7',
      user_agent: 'Mozilla/5.0 (iPhone)',
      consented_at: '2026-11-01T10:00:00.000Z',
      api_key_id: tenant.keyId,
    });
    expect(res.body.data.filled_from_request).to.deep.equal([]);
    expect(res.body.data.metadata).to.deep.equal({ form: 'checkout', checkbox: true });
    expect(res.body.data.id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('when ip_address, user_agent and consented_at are left out, then the request\'s address and agent and the current time are recorded, and marked as filled', async () => {
    const tenant = await createTenant();
    const started = Date.now();
    const res = await api()
      .post('/v1/compliance/consent')
      .set(tenant.auth)
      .set('User-Agent', 'pos-terminal/2.1')
      .send({ phone_number: fictionalNumber(), consent_type: 'implied', consent_source: 'in-store' });
    expect(res.status).to.equal(201);
    expect(res.body.data.ip_address).to.equal('127.0.0.1');
    expect(res.body.data.user_agent).to.equal('pos-terminal/2.1');
    expect(res.body.data.filled_from_request).to.deep.equal(['ip_address', 'user_agent']);
    expect(Date.parse(res.body.data.consented_at)).to.be.within(started - 5000, Date.now() + 5000);
  });

  it('when the body is wrong, then 400 VALIDATION_ERROR names the field', async () => {
    const tenant = await createTenant();
    const base = { phone_number: '+15551234567', consent_type: 'express', consent_source: 'web' };
    for (const [body, field] of [
      [{ ...base, consent_type: 'verbal' }, 'consent_type'],
      [{ ...base, phone_number: '12345' }, 'phone_number'],
      [{ ...base, consent_source: undefined }, 'consent_source'],
      [{ ...base, ip_address: 'not-an-ip' }, 'ip_address'],
      [{ ...base, consented_at: 'yesterday' }, 'consented_at'],
      [{ ...base, consented_at: new Date(Date.now() + 3600_000).toISOString() }, 'consented_at'],
      [{ ...base, tenant_id: 'x' }, 'tenant_id'],
      [{ ...base, metadata: 'text' }, 'metadata'],
    ] as [object, string][]) {
      const res = await record(tenant, body as Record<string, unknown>);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(res.body.details.map((detail: { path: string }) => detail.path), JSON.stringify(body)).to.include(field);
    }
  });

  it('when the ledger is queried by number and time, then only matching entries come back, newest first, in pages; one entry reads by id', async () => {
    const tenant = await createTenant();
    const phone = fictionalNumber();
    const other = fictionalNumber();
    const ids: string[] = [];
    for (const [number, at] of [
      [phone, '2026-10-01T00:00:00Z'],
      [phone, '2026-10-15T00:00:00Z'],
      [phone, '2026-11-01T00:00:00Z'],
      [other, '2026-10-15T00:00:00Z'],
    ]) {
      const res = await record(tenant, { phone_number: number, consent_type: 'express', consent_source: 'web', consented_at: at });
      ids.push(res.body.data.id);
    }
    const byPhone = await api().get(`/v1/compliance/consent?phone_number=${encodeURIComponent(phone)}`).set(tenant.auth);
    expect(byPhone.status).to.equal(200);
    expect(byPhone.body.data.map((row: { id: string }) => row.id)).to.deep.equal([ids[2], ids[1], ids[0]]);
    const ranged = await api().get(`/v1/compliance/consent?phone_number=${encodeURIComponent(phone)}&from=2026-10-10T00:00:00Z&to=2026-11-01T00:00:00Z`).set(tenant.auth);
    expect(ranged.body.data.map((row: { id: string }) => row.id)).to.deep.equal([ids[1]]);
    const page1 = await api().get('/v1/compliance/consent?limit=3').set(tenant.auth);
    expect(page1.body.data).to.have.length(3);
    const page2 = await api().get(`/v1/compliance/consent?limit=3&cursor=${page1.body.next_cursor}`).set(tenant.auth);
    expect(page2.body.data.map((row: { id: string }) => row.id)).to.deep.equal([ids[0]]);
    expect(page2.body.next_cursor).to.equal(null);
    const one = await api().get(`/v1/compliance/consent/${ids[3]}`).set(tenant.auth);
    expect(one.status).to.equal(200);
    expect(one.body.data.phone_number).to.equal(other);
    expect((await api().get(`/v1/compliance/consent/${newId()}`).set(tenant.auth)).status).to.equal(404);
    expect((await api().get('/v1/compliance/consent?from=last-week').set(tenant.auth)).status).to.equal(400);
  });

  it('when the ledger is exported, then it streams as text/csv with a header, proper escaping, formula-safe free text, and the same filters', async () => {
    const tenant = await createTenant();
    const phone = fictionalNumber();
    const tricky = 'Line one, with "quotes"\nand a second line';
    await record(tenant, { phone_number: phone, consent_type: 'express_written', consent_source: '=HYPERLINK("http://evil")', disclosure_text: tricky, consented_at: '2026-10-01T00:00:00Z', metadata: { note: 'a,b' } });
    await record(tenant, { phone_number: fictionalNumber(), consent_type: 'implied', consent_source: 'store', consented_at: '2026-10-02T00:00:00Z' });

    const res = await api().get('/v1/compliance/consent/export').set(tenant.auth).buffer(true).parse((response, done) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => done(null, text));
    });
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.match(/^text\/csv/);
    expect(res.headers['content-disposition']).to.match(/^attachment; filename="consent-/);
    const rows = parseCsv(res.body as string);
    expect(rows[0]).to.deep.equal(['id', 'phone_number', 'consent_type', 'consent_source', 'disclosure_text', 'disclosure_version', 'ip_address', 'user_agent', 'consented_at', 'metadata', 'filled_from_request', 'api_key_id', 'created_at']);
    expect(rows).to.have.length(3);
    const first = Object.fromEntries(rows[0].map((name, index) => [name, rows[1][index]]));
    expect(first).to.include({ phone_number: phone, consent_type: 'express_written', disclosure_text: tricky, consent_source: `'=HYPERLINK("http://evil")`, consented_at: '2026-10-01T00:00:00.000Z', filled_from_request: 'ip_address' });
    expect(JSON.parse(first.metadata)).to.deep.equal({ note: 'a,b' });

    const filtered = await api().get(`/v1/compliance/consent/export?phone_number=${encodeURIComponent(phone)}`).set(tenant.auth);
    expect(parseCsv(filtered.text)).to.have.length(2);
    const empty = await api().get('/v1/compliance/consent/export?to=2020-01-01T00:00:00Z').set(tenant.auth);
    expect(empty.status).to.equal(200);
    expect(parseCsv(empty.text)).to.have.length(1);
    expect((await api().get('/v1/compliance/consent/export?limit=5').set(tenant.auth)).status).to.equal(400);
  });

  it('when a CSV field holds a comma, quote or newline, then it is quoted with doubled quotes; plain fields are left alone', () => {
    expect(csvField('plain')).to.equal('plain');
    expect(csvField('a,b')).to.equal('"a,b"');
    expect(csvField('say "hi"')).to.equal('"say ""hi"""');
    expect(csvField('two\r\nlines')).to.equal('"two\r\nlines"');
    expect(csvField('+15551234567')).to.equal('+15551234567');
    expect(csvField('+SUM(A1)', { freeText: true })).to.equal("'+SUM(A1)");
    expect(csvField(null)).to.equal('');
  });

  it('when 20,000 entries are exported, then every one arrives, in id order, while the server streams in batches', async function () {
    this.timeout(60000);
    const tenant = await createTenant();
    const total = 20000;
    const rows = Array.from({ length: total }, (_, i) => ({
      tenant_id: tenant.id,
      id: newId(),
      phone_number: `+1555${String(3_000_000 + i)}`,
      consent_type: 'express',
      consent_source: `import batch ${i}`,
      consented_at: new Date(Date.UTC(2026, 0, 1) + i * 1000),
    }));
    for (let i = 0; i < rows.length; i += 2000) await harness().db.owner('consent_logs').insert(rows.slice(i, i + 2000));

    // Read it over a real socket, counting lines as they arrive.
    const server = http.createServer(harness().app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (server.address() as AddressInfo).port;
      const { lines, chunks, lastId, ordered } = await new Promise<{ lines: number; chunks: number; lastId: string; ordered: boolean }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/v1/compliance/consent/export', headers: tenant.auth }, (response) => {
            let buffered = '';
            let count = 0;
            let chunkCount = 0;
            let previous = '';
            let inOrder = true;
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => {
              chunkCount += 1;
              buffered += chunk;
              const parts = buffered.split('\r\n');
              buffered = parts.pop() ?? '';
              for (const line of parts) {
                count += 1;
                const id = line.slice(0, line.indexOf(','));
                if (count > 1 && previous && id <= previous) inOrder = false;
                if (count > 1) previous = id;
              }
            });
            response.on('end', () => resolve({ lines: count, chunks: chunkCount, lastId: previous, ordered: inOrder }));
            response.on('error', reject);
          })
          .on('error', reject);
      });
      expect(lines).to.equal(total + 1);
      expect(ordered).to.equal(true);
      expect(lastId).to.equal(rows[rows.length - 1].id);
      expect(chunks).to.be.greaterThan(1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('when the app role tries to UPDATE or DELETE a consent entry, then the database refuses; even the owner cannot UPDATE', async () => {
    const tenant = await createTenant();
    const created = await record(tenant, { phone_number: fictionalNumber(), consent_type: 'express', consent_source: 'web' });
    const id = created.body.data.id as string;
    const before = await harness().db.owner('consent_logs').where({ tenant_id: tenant.id, id }).first();

    let updateCode: string | undefined;
    try {
      await withTenant(harness().db.app, tenant.id, (t) => t.from('consent_logs').where({ id }).update({ consent_type: 'implied' }));
    } catch (error) {
      updateCode = (error as { code?: string }).code;
    }
    expect(updateCode, 'UPDATE through the app role').to.equal('42501');

    let deleteCode: string | undefined;
    try {
      await withTenant(harness().db.app, tenant.id, (t) => t.from('consent_logs').where({ id }).delete());
    } catch (error) {
      deleteCode = (error as { code?: string }).code;
    }
    expect(deleteCode, 'DELETE through the app role').to.equal('42501');

    let ownerCode: string | undefined;
    try {
      await harness().db.owner('consent_logs').where({ tenant_id: tenant.id, id }).update({ consent_source: 'rewritten' });
    } catch (error) {
      ownerCode = (error as { code?: string }).code;
    }
    expect(ownerCode, 'UPDATE by the owner (trigger)').to.equal('42501');
    expect(await harness().db.owner('consent_logs').where({ tenant_id: tenant.id, id }).first()).to.deep.equal(before);
    expect((await api().patch(`/v1/compliance/consent/${id}`).set(tenant.auth).send({ consent_type: 'implied' })).status).to.equal(404);
    expect((await api().delete(`/v1/compliance/consent/${id}`).set(tenant.auth)).status).to.equal(404);
  });

  it('when tenant B exports or lists the ledger, then tenant A\'s entries are absent', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const phone = fictionalNumber();
    await record(a, { phone_number: phone, consent_type: 'express', consent_source: 'web' });
    const exported = await api().get('/v1/compliance/consent/export').set(b.auth);
    expect(exported.status).to.equal(200);
    expect(exported.text).not.to.contain(phone);
    expect(parseCsv(exported.text)).to.have.length(1);
    const listed = await api().get(`/v1/compliance/consent?phone_number=${encodeURIComponent(phone)}`).set(b.auth);
    expect(listed.body.data).to.deep.equal([]);
  });
});
