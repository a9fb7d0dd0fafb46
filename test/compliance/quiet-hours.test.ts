import { expect } from 'chai';
import { quietHoursFor } from '../../shared/compliance/quiet-hours';
import { localHour, NANP_AREA_CODE_ZONES, recipientZones, COUNTRY_ZONES } from '../../shared/compliance/time-zones';
import { withTenant } from '../../shared/db/tenant';
import { harness } from '../helpers/harness';
import { quietHoursCheck } from '../../workers/sending/compliance';
import { fictionalNumber, messageRow, numberIn, outboxRows, routeAt, send, tenantWithOfflineLine, dropLeftoverWork } from './helpers';
import { getMessage } from '../../shared/data/messages';
import { subscribe } from '../helpers/subscriptions';

const at = (iso: string) => new Date(iso);

describe('quiet hours (marketing, 20:00–08:00 recipient local time)', () => {
  after(dropLeftoverWork);

  describe('zones from the number', () => {
    it('when the zone tables are loaded, then every zone is one Intl knows and no area code is listed twice', () => {
      const zones = new Set<string>();
      for (const list of NANP_AREA_CODE_ZONES.values()) list.forEach((zone) => zones.add(zone));
      for (const list of Object.values(COUNTRY_ZONES)) list.forEach((zone) => zones.add(zone));
      for (const zone of zones) expect(() => new Intl.DateTimeFormat('en-US', { timeZone: zone }), zone).not.to.throw();
      expect(NANP_AREA_CODE_ZONES.size).to.be.greaterThan(380);
    });

    it('when a US or Canadian number is given, then its area code decides the zone', () => {
      expect(recipientZones('+12125550123')).to.deep.equal({ zones: ['America/New_York'], from: 'area_code' });
      expect(recipientZones('+13105550123')?.zones).to.deep.equal(['America/Los_Angeles']);
      expect(recipientZones('+18085550123')?.zones).to.deep.equal(['Pacific/Honolulu']);
      expect(recipientZones('+16025550123')?.zones).to.deep.equal(['America/Phoenix']);
      expect(recipientZones('+14165550123')?.zones).to.deep.equal(['America/Toronto']);
      expect(recipientZones('+18505550123')?.zones).to.have.members(['America/New_York', 'America/Chicago']);
    });

    it('when a number outside +1 is given, then its country decides, and an unplaceable +1 number has no zone', () => {
      expect(recipientZones('+33612345678')).to.deep.equal({ zones: ['Europe/Paris'], from: 'country' });
      expect(recipientZones('+447700900123')?.zones).to.deep.equal(['Europe/London']);
      expect(recipientZones('+61412345678')?.zones.length).to.be.greaterThan(1);
      // Not in the curated table: ICU's list for the country.
      expect(recipientZones('+79161234567')?.zones).to.include('Europe/Moscow');
      expect(recipientZones('+15551234567')).to.equal(null);
    });

    it('when the hour is read for a zone, then daylight saving time is applied', () => {
      expect(localHour('America/New_York', at('2026-01-16T01:00:00Z'))).to.equal(20); // EST, UTC-5
      expect(localHour('America/New_York', at('2026-07-16T00:00:00Z'))).to.equal(20); // EDT, UTC-4
      expect(localHour('Pacific/Honolulu', at('2026-07-16T06:00:00Z'))).to.equal(20);
    });
  });

  describe('boundaries', () => {
    const cases: [string, string, string, boolean][] = [
      // New York in winter (UTC-5)
      ['+12125550123', '2026-01-16T00:59:00Z', '19:59 New York', false],
      ['+12125550123', '2026-01-16T01:00:00Z', '20:00 New York', true],
      ['+12125550123', '2026-01-16T12:59:00Z', '07:59 New York', true],
      ['+12125550123', '2026-01-16T13:00:00Z', '08:00 New York', false],
      // New York in summer (UTC-4)
      ['+12125550123', '2026-07-15T23:59:00Z', '19:59 New York (EDT)', false],
      ['+12125550123', '2026-07-16T00:00:00Z', '20:00 New York (EDT)', true],
      ['+12125550123', '2026-07-16T11:59:00Z', '07:59 New York (EDT)', true],
      ['+12125550123', '2026-07-16T12:00:00Z', '08:00 New York (EDT)', false],
      // Los Angeles in winter (UTC-8)
      ['+13105550123', '2026-01-16T03:59:00Z', '19:59 Los Angeles', false],
      ['+13105550123', '2026-01-16T04:00:00Z', '20:00 Los Angeles', true],
      ['+13105550123', '2026-01-16T15:59:00Z', '07:59 Los Angeles', true],
      ['+13105550123', '2026-01-16T16:00:00Z', '08:00 Los Angeles', false],
      // Honolulu (UTC-10, no DST)
      ['+18085550123', '2026-07-16T05:59:00Z', '19:59 Honolulu', false],
      ['+18085550123', '2026-07-16T06:00:00Z', '20:00 Honolulu', true],
      ['+18085550123', '2026-07-16T17:59:00Z', '07:59 Honolulu', true],
      ['+18085550123', '2026-07-16T18:00:00Z', '08:00 Honolulu', false],
      // London in winter (UTC+0)
      ['+447700900123', '2026-01-15T19:59:00Z', '19:59 London', false],
      ['+447700900123', '2026-01-15T20:00:00Z', '20:00 London', true],
      ['+447700900123', '2026-01-16T07:59:00Z', '07:59 London', true],
      ['+447700900123', '2026-01-16T08:00:00Z', '08:00 London', false],
    ];
    for (const [number, instant, label, quiet] of cases) {
      it(`when it is ${label}, then marketing is ${quiet ? 'blocked' : 'allowed'}`, () => {
        expect(quietHoursFor(number, at(instant)).quiet).to.equal(quiet);
      });
    }

    it('when an area code spans Eastern and Central time, then it is quiet if it is quiet in either zone', () => {
      const panhandle = '+18505550123';
      expect(quietHoursFor(panhandle, at('2026-01-16T00:30:00Z')).quiet, '19:30 ET / 18:30 CT').to.equal(false);
      expect(quietHoursFor(panhandle, at('2026-01-16T01:00:00Z')).quietIn, '20:00 ET / 19:00 CT').to.deep.equal(['America/New_York']);
      expect(quietHoursFor(panhandle, at('2026-01-16T13:00:00Z')).quietIn, '08:00 ET / 07:00 CT').to.deep.equal(['America/Chicago']);
      expect(quietHoursFor(panhandle, at('2026-01-16T14:00:00Z')).quiet, '09:00 ET / 08:00 CT').to.equal(false);
    });

    it('when the number has no derivable region (+1 555), then it is never held', () => {
      for (const hour of ['00', '03', '12', '21']) expect(quietHoursFor('+15551234567', at(`2026-01-16T${hour}:00:00Z`)).quiet).to.equal(false);
    });
  });

  describe('in the router', () => {
    it('when a marketing message is routed at 20:00 the recipient\'s time, then it is blocked with reason quiet_hours and message.blocked fires', async () => {
      const { tenant } = await tenantWithOfflineLine();
      await subscribe(tenant.id, ['message.blocked']);
      const id = await send(tenant, numberIn('212'), { message_type: 'marketing' });
      const result = await routeAt(tenant.id, id, at('2026-01-16T01:00:00Z'));
      expect(result).to.equal('done: blocked: quiet_hours');
      const row = await messageRow(tenant.id, id);
      expect(row).to.include({ status: 'blocked', reason: 'quiet_hours' });
      const jobs = await outboxRows(tenant.id, 'webhooks');
      expect(jobs.map((job) => job.ref_id)).to.include(`${id}_2`);
      const history = await harness().db.owner('message_events').where({ tenant_id: tenant.id, message_id: id }).orderBy('sequence');
      expect(history.map((event) => [event.status, event.reason])).to.deep.equal([['queued', null], ['blocked', 'quiet_hours']]);
    });

    it('when the same marketing message is routed at 19:59, then it passes the checks (and waits for a line)', async () => {
      const { tenant } = await tenantWithOfflineLine();
      const id = await send(tenant, numberIn('212'), { message_type: 'marketing' });
      expect(await routeAt(tenant.id, id, at('2026-01-16T00:59:00Z'))).to.equal('deferred: waiting for a line');
      expect((await messageRow(tenant.id, id)).status).to.equal('queued');
    });

    it('when OTP and alert messages are routed in quiet hours, then they are never held', async () => {
      const { tenant } = await tenantWithOfflineLine();
      for (const type of ['otp', 'alert']) {
        const id = await send(tenant, numberIn('212'), { message_type: type });
        expect(await routeAt(tenant.id, id, at('2026-01-16T03:00:00Z')), type).to.equal('deferred: waiting for a line');
        expect((await messageRow(tenant.id, id)).reason).to.equal(null);
      }
    });

    it('when the check runs with an injected clock, then only that clock decides (no process-wide switch)', async () => {
      const { tenant } = await tenantWithOfflineLine();
      const id = await send(tenant, numberIn('808'), { message_type: 'marketing' });
      const verdicts = await withTenant(harness().db.app, tenant.id, async (t) => {
        const message = await getMessage(t, id);
        return Promise.all(
          ['2026-07-16T05:59:00Z', '2026-07-16T06:00:00Z'].map((instant) => quietHoursCheck({ now: () => at(instant) }).check({ ...message, opted_out: false })),
        );
      });
      expect(verdicts).to.deep.equal([{ action: 'allow' }, { action: 'block', reason: 'quiet_hours' }]);
    });

    it('when a marketing message goes to a +1 555 number at night, then it is not held', async () => {
      const { tenant } = await tenantWithOfflineLine();
      const id = await send(tenant, fictionalNumber(), { message_type: 'marketing' });
      expect(await routeAt(tenant.id, id, at('2026-01-16T07:00:00Z'))).to.equal('deferred: waiting for a line');
    });
  });
});
