import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

const root = path.resolve(__dirname, '..', '..', '..');

/** Every TypeScript source file under `dir`, relative to the project root. */
function sources(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

/**
 * What reaching a table directly looks like with knex: a tenant query
 * (`t.from`, `t.insert`), raw SQL (`.raw`, `.whereRaw`), a table call on a
 * connection or transaction (`owner('phone_lines')`, `trx('outbox')`), or the
 * tenant layer's by-table lookup (`findOwned(t, 'webhook_events', …)`).
 */
const DIRECT_ACCESS = [/\bfindOwned\b/, /\.from\(/, /\.insert\(/, /\.raw\(/, /\.whereRaw\(/, /\.fn\.now\(/, /\b(owner|trx|knex)\(\s*['"`]/, /\bdb\.(app|owner)\(/];

/** Lines where the pattern is something else: Express's raw-body parser, Buffer.from and Array.from. */
const NOT_DATA_ACCESS = [/\bexpress\.raw\(/, /\b(Buffer|Array)\.from\(/];

function directAccess(dir: string): string[] {
  return sources(dir).flatMap((file) =>
    fs
      .readFileSync(path.join(root, file), 'utf8')
      .split('\n')
      .flatMap((line, index) =>
        DIRECT_ACCESS.some((pattern) => pattern.test(line)) && !NOT_DATA_ACCESS.some((pattern) => pattern.test(line)) ? [`${file}:${index + 1}: ${line.trim()}`] : [],
      ),
  );
}

describe('data access goes through shared/data', () => {
  it('when a worker reads or writes a table, then it does so through a named function of shared/data (or shared/outbox.ts), never with knex directly', () => {
    expect(sources('workers').length).to.be.greaterThan(10);
    const found = directAccess('workers');
    expect(found, found.join('\n')).to.deep.equal([]);
  });

  it('when a route or middleware of the API reads or writes a table, then it does so through a named function of shared/data, never with knex directly', () => {
    expect(sources('api').length).to.be.greaterThan(10);
    const found = directAccess('api');
    expect(found, found.join('\n')).to.deep.equal([]);
  });

  it('when shared code outside the data layer (routing, compliance, messages, device, webhooks, ai) reads or writes a table, then it does so through shared/data, never with knex directly', () => {
    // The data layer itself, the connection and tenant-transaction plumbing, and the outbox are where SQL lives.
    const home = [/^shared\/data\//, /^shared\/db\//, /^shared\/outbox\.ts:/];
    expect(sources('shared').length).to.be.greaterThan(20);
    const found = directAccess('shared').filter((line) => !home.some((pattern) => pattern.test(line)));
    expect(found, found.join('\n')).to.deep.equal([]);
  });
});
