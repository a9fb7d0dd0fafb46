import { Router } from 'express';
import { withTenant, TenantTx } from '../../shared/db/tenant';
import { ForbiddenError, ServiceUnavailableError, ValidationError } from '../../shared/errors';
import { enqueueAll, OutboxJob } from '../../shared/outbox';
import { requireTemplateForSend } from '../../shared/data/templates';
import type { RequestedChannel } from '../../shared/data/messages';
import {
  campaignCounts,
  CampaignRow,
  cancelCampaign,
  checkRecipients,
  createCampaign,
  getCampaign,
  groupRecipients,
  listCampaigns,
  pauseCampaign,
  presentCampaign,
  resolveRecipients,
  resumeCampaign,
} from '../../shared/data/campaigns';
import { hasUsableLine } from '../../shared/data/phone-lines';
import { CampaignStatus, createCampaignSchema, CreateCampaignBody, listCampaignsQuery, MAX_SCHEDULE_AHEAD_DAYS } from '../../shared/schemas/campaigns';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps, Caller } from '../types';

const parseCreate = bodyValidator(createCampaignSchema);
const parseList = queryValidator<{ status?: CampaignStatus; limit?: number; cursor?: string }>(listCampaignsQuery);

function checkShape(body: CreateCampaignBody): Date | null {
  if ((body.body === undefined) === (body.template === undefined)) {
    throw new ValidationError('Invalid request body: give exactly one of body or template.', [
      { path: body.body === undefined ? 'body' : 'template', message: 'exactly one of body or template is required' },
    ]);
  }
  if ((body.recipients === undefined) === (body.group_id === undefined)) {
    throw new ValidationError('Invalid request body: give exactly one of recipients or group_id.', [
      { path: body.recipients === undefined ? 'recipients' : 'group_id', message: 'exactly one of recipients or group_id is required' },
    ]);
  }
  if (body.scheduled_at === undefined) return null;
  const scheduledAt = new Date(body.scheduled_at);
  if (scheduledAt.getTime() > Date.now() + MAX_SCHEDULE_AHEAD_DAYS * 24 * 3600 * 1000) {
    throw new ValidationError(`Invalid request body: scheduled_at may be at most ${MAX_SCHEDULE_AHEAD_DAYS} days ahead.`, [
      { path: 'scheduled_at', message: `must be within ${MAX_SCHEDULE_AHEAD_DAYS} days` },
    ]);
  }
  return scheduledAt;
}

async function present(t: TenantTx, row: CampaignRow) {
  const counts = await campaignCounts(t, [row]);
  return presentCampaign(row, counts.get(row.id)!);
}

export function campaignRoutes(deps: ApiDeps): Router {
  const router = Router();

  const after = async (jobs: OutboxJob[], campaignId: string) => {
    // A failed enqueue is repaired by the outbox relay: the change is committed either way.
    await enqueueAll(deps.queues, jobs).catch((error: unknown) => deps.log.warn({ err: error, campaignId }, 'enqueue failed; the outbox relay will retry'));
  };

  router.post('/', async (req, res) => {
    const caller: Caller = req.caller!;
    const body = parseCreate(req);
    const scheduledAt = checkShape(body);
    const immediate = !scheduledAt || scheduledAt.getTime() <= Date.now();
    const checked = body.recipients !== undefined ? await checkRecipients(body.recipients) : null;

    const { data, jobs } = await withTenant(deps.db.app, caller.tenantId, async (t) => {
      let text = body.body ?? '';
      let templateId: string | null = null;
      let channel: RequestedChannel = body.channel ?? 'auto';
      if (body.template !== undefined) {
        const template = await requireTemplateForSend(t, body.template);
        text = template.body;
        templateId = template.id;
        if (body.channel === undefined && template.channel !== 'both') channel = template.channel;
      }
      const recipients = checked ? await resolveRecipients(t, checked) : await groupRecipients(t, body.group_id as string);
      // As for a single send: a live campaign that would start now needs a line
      // the account may use. A scheduled one waits for a line at launch.
      if (!caller.sandbox && immediate && !(await hasUsableLine(t.trx, { id: caller.tenantId, pool: caller.pool }))) {
        throw new ServiceUnavailableError('No phone line is available to this account.', 'NO_PHONE_AVAILABLE');
      }
      const created = await createCampaign(t, {
        name: body.name,
        body: text,
        templateId,
        data: body.data ?? {},
        recipients,
        channel,
        messageType: body.message_type ?? 'marketing',
        sandbox: caller.sandbox,
        scheduledAt,
      });
      return { data: await present(t, created.row), jobs: created.jobs };
    });
    await after(jobs, data.id);
    res.status(202).json({ data });
  });

  router.get('/', async (req, res) => {
    const query = parseList(req);
    const page = pageFrom(query);
    const result = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const rows = await listCampaigns(t, query, page.limit, page.cursor);
      const counts = await campaignCounts(t, rows);
      return pageOf(rows, page, (row) => presentCampaign(row, counts.get(row.id)!), (row) => row.id);
    });
    res.json(result);
  });

  router.get('/:id', async (req, res) => {
    const data = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => present(t, await getCampaign(t, req.params.id)));
    res.json({ data });
  });

  /** A test key steers sandbox campaigns only. */
  async function assertMayChange(t: TenantTx, caller: Caller, id: string): Promise<void> {
    const campaign = await getCampaign(t, id);
    if (caller.sandbox && !campaign.sandbox) throw new ForbiddenError('A test key (tf_test_) cannot change a live campaign; use a live key.');
  }

  router.post('/:id/pause', async (req, res) => {
    const data = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      await assertMayChange(t, req.caller!, req.params.id);
      return present(t, await pauseCampaign(t, req.params.id));
    });
    res.json({ data });
  });

  router.post('/:id/resume', async (req, res) => {
    const { data, jobs } = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      await assertMayChange(t, req.caller!, req.params.id);
      const resumed = await resumeCampaign(t, req.params.id);
      return { data: await present(t, resumed.row), jobs: resumed.jobs };
    });
    await after(jobs, data.id);
    res.json({ data });
  });

  router.post('/:id/cancel', async (req, res) => {
    const { data, jobs } = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      await assertMayChange(t, req.caller!, req.params.id);
      const cancelled = await cancelCampaign(t, req.params.id);
      return { data: await present(t, cancelled.row), jobs: cancelled.jobs };
    });
    await after(jobs, data.id);
    res.json({ data });
  });

  return router;
}
