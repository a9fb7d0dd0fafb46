import { expect } from 'chai';
import { isBackendUnavailable } from '../../api/errors';

describe('storage outages are told apart from bugs', () => {
  it('when knex reports a connection cut mid-statement (the statement in front of the message), then it is an outage (503), not a 500', () => {
    const cut = new Error('SELECT * FROM senderz_accept_outbound($1, $2) - Connection terminated unexpectedly');
    expect(isBackendUnavailable(cut)).to.equal(true);
    expect(isBackendUnavailable(new Error('Connection terminated unexpectedly'))).to.equal(true);
  });

  it('when a statement fails for another reason that merely mentions a connection, then it is not an outage', () => {
    expect(isBackendUnavailable(new Error('insert into "notes" ("text") values ($1) - value too long: Connection terminated-ish'))).to.equal(false);
    expect(isBackendUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).to.equal(false);
  });
});
