import { Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { AppError, ConflictError, ForbiddenError, ServiceUnavailableError, ValidationError } from '../../shared/errors';
import { messagesAccepted, messageStatusTotal } from '../../shared/metrics';
import { enqueueAll } from '../../shared/outbox';
import { cancelScheduledMessage } from '../../shared/messages/scheduled';
import { acceptOutbound } from '../../shared/messages/outbound';
import { getMessage, listMessageEvents, listMessages, MessageFilters, MessageRow, presentMessage, RequestedChannel } from '../../shared/data/messages';
import { insertMessageMedia, MediaSummary, mediaContent, mediaOfMessages, presentMedia } from '../../shared/data/media';
import { findTemplateForSend } from '../../shared/data/templates';
import { listStatusCallbacks } from '../../shared/data/status-callbacks';
import { CALLBACK_STATUSES } from '../../shared/messages/status';
import { renderTemplate } from '../../shared/templates';
import { listMessagesQuery, MAX_BODY_LENGTH, MAX_SCHEDULE_DAYS, sendMessageQuery, sendMessageSchema } from '../../shared/schemas/messages';
import { webhookUrlProblem } from '../../shared/webhooks/ssrf';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';
import { sendMedia } from './media';

const parseSend = bodyValidator(sendMessageSchema);
const parseSendQuery = queryValidator<{ dispatch_webhook?: boolean }>(sendMessageQuery);
const parseList = queryValidator<MessageFilters & { limit?: number; cursor?: string }>(listMessagesQuery);

/** A rough expectation for clients' timeouts, by channel, from the simulator and field numbers. */
const ESTIMATED_DELIVERY_MS: Record<string, number> = { imessage: 2000, rcs: 3000, sms: 5000, auto: 3000 };

/** send_at as a Date, or a 400 naming the field: it must be in the future and within MAX_SCHEDULE_DAYS. */
export function parseSendAt(raw: string, now = Date.now()): Date {
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw new ValidationError('Invalid request body: send_at is not a valid ISO 8601 date-time.', [{ path: 'send_at', message: 'is not a valid date-time' }]);
  if (at.getTime() <= now) {
    throw new ValidationError('Invalid request body: send_at must be in the future; leave it out to send now.', [{ path: 'send_at', message: 'must be in the future' }]);
  }
  if (at.getTime() > now + MAX_SCHEDULE_DAYS * 86400000) {
    throw new ValidationError(`Invalid request body: send_at may be at most ${MAX_SCHEDULE_DAYS} days ahead.`, [{ path: 'send_at', message: `must be within ${MAX_SCHEDULE_DAYS} days` }]);
  }
  return at;
}

export function messageRoutes(deps: ApiDeps): Router {
  const router = Router();
  const policy = { allowPrivateNetworks: deps.config.webhookAllowPrivateNetworks };
  const present = (row: MessageRow, media: MediaSummary[] = []) => ({ ...presentMessage(row), media: media.map((item) => presentMedia(deps.config.publicUrl, row.id, item)) });

  /** Each attachment URL passes the same check as a webhook URL; the download itself happens in a worker, through the same SSRF-safe connect. */
  function checkMediaUrls(urls: string[]): void {
    urls.forEach((url, index) => {
      const problem = webhookUrlProblem(url, policy);
      if (problem) throw new ValidationError(`Invalid request body: media_urls[${index}] ${problem}.`, [{ path: `media_urls/${index}`, message: problem }]);
    });
  }

  router.post('/', async (req, res) => {
    const caller = req.caller!;
    const body = parseSend(req);
    const query = parseSendQuery(req);
    const mediaUrls = body.media_urls ?? [];
    if (mediaUrls.length > 0 && body.body !== undefined && body.template !== undefined) {
      throw new ValidationError('Invalid request body: give at most one of body or template.', [{ path: 'template', message: 'at most one of body or template' }]);
    }
    if (mediaUrls.length === 0 && (body.body === undefined) === (body.template === undefined)) {
      throw new ValidationError('Invalid request body: give exactly one of body or template.', [
        { path: body.body === undefined ? 'body' : 'template', message: 'exactly one of body or template is required' },
      ]);
    }
    if (body.data !== undefined && body.template === undefined) {
      throw new ValidationError('Invalid request body: data is only used with template.', [{ path: 'data', message: 'requires template' }]);
    }

    if (body.status_callback !== undefined) {
      const problem = webhookUrlProblem(body.status_callback, policy);
      if (problem) throw new ValidationError(`Invalid request body: status_callback ${problem}.`, [{ path: 'status_callback', message: problem }]);
    }
    const sendAt = body.send_at === undefined ? null : parseSendAt(body.send_at);

    let text = body.body ?? '';
    let templateId: string | null = null;
    let messageType = body.message_type;
    let channel: RequestedChannel = body.channel ?? 'auto';
    if (body.template !== undefined) {
      const template = await withTenant(deps.db.app, caller.tenantId, (t) => findTemplateForSend(t, body.template!));
      if (!template) throw new AppError(400, 'INVALID_TEMPLATE', `No template named "${body.template}".`, [{ path: 'template', message: 'names no template' }]);
      text = renderTemplate(template.body, body.data ?? {});
      if (text.length > MAX_BODY_LENGTH) {
        throw new ValidationError(`The rendered message is longer than ${MAX_BODY_LENGTH} characters.`, [{ path: 'data', message: 'renders a body that is too long' }]);
      }
      templateId = template.id;
      messageType ??= template.type;
      if (body.channel === undefined && template.channel !== 'both') channel = template.channel;
    }
    if (mediaUrls.length > 0) {
      if (channel === 'sms') {
        throw new AppError(400, 'MEDIA_NOT_SUPPORTED', 'SMS cannot carry media: send attachments with channel auto, imessage or rcs.', [
          { path: body.channel === undefined ? 'template' : 'channel', message: 'sms cannot carry media_urls' },
        ]);
      }
      checkMediaUrls(mediaUrls);
    }

    // One statement: line check, opt-out check, message, history and outbox rows.
    // With attachments, their rows join the same transaction and the first job downloads them.
    const input = {
      to: body.to,
      body: text,
      requestedChannel: channel,
      messageType: messageType ?? 'alert',
      pinnedFrom: body.from_number ?? null,
      templateId,
      sandbox: caller.sandbox,
      dispatchWebhook: caller.sandbox ? query.dispatch_webhook === true : true,
      checkLines: caller.sandbox ? undefined : { pool: caller.pool },
      statusCallback: body.status_callback ?? null,
      clientReference: body.client_reference ?? null,
      sendAt,
    };
    const accepted =
      mediaUrls.length === 0
        ? await acceptOutbound(deps.db.app, caller.tenantId, input)
        : await withTenant(deps.db.app, caller.tenantId, async (t) => {
            const result = await acceptOutbound(t.trx, t.tenantId, { ...input, firstJob: 'fetch-media' });
            if (result.status === 'queued' || result.status === 'scheduled') await insertMessageMedia(t, result.id, mediaUrls);
            return result;
          });
    if (accepted.status !== 'no_line' && accepted.status !== 'pinned_unavailable') {
      messagesAccepted.inc({ pool: caller.pool, status: accepted.status });
      messageStatusTotal.inc({ status: accepted.status });
    }
    if (accepted.status === 'no_line') throw new ServiceUnavailableError('No phone line is available to this account.', 'NO_PHONE_AVAILABLE');
    if (accepted.status === 'pinned_unavailable') {
      throw new ValidationError('Invalid request body: from_number is not a line this account may use.', [{ path: 'from_number', message: 'is not a line this account may use' }]);
    }

    // After commit: a failed enqueue is repaired by the outbox relay, so the
    // message is accepted either way.
    await enqueueAll(deps.queues, accepted.jobs).catch((error: unknown) => deps.log.warn({ err: error, messageId: accepted.id }, 'enqueue failed; the outbox relay will retry'));

    if (accepted.status === 'blocked') throw new ForbiddenError('The recipient has opted out of messages from this account.', 'OPTED_OUT');
    res.status(202).json({
      data: {
        message_id: accepted.id,
        status: accepted.status,
        from: body.from_number ?? null,
        channel,
        estimated_delivery_ms: ESTIMATED_DELIVERY_MS[channel],
        client_reference: body.client_reference ?? null,
        send_at: sendAt,
      },
    });
  });

  router.get('/', async (req, res) => {
    const query = parseList(req);
    const page = pageFrom(query);
    const { rows, media } = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const found = await listMessages(t, { ...query, sandbox: req.caller!.sandbox }, page.limit, page.cursor);
      return { rows: found, media: await mediaOfMessages(t, found.map((row) => row.id)) };
    });
    res.json(pageOf(rows, page, (row) => present(row, media.get(row.id)), (row) => row.id));
  });

  router.get('/:id', async (req, res) => {
    const { row, media } = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const found = await getMessage(t, req.params.id, { sandbox: req.caller!.sandbox });
      return { row: found, media: (await mediaOfMessages(t, [found.id])).get(found.id) };
    });
    res.json({ data: present(row, media) });
  });

  router.get('/:id/media/:mediaId', async (req, res) => {
    const media = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      await getMessage(t, req.params.id, { sandbox: req.caller!.sandbox });
      return mediaContent(t, req.params.mediaId, req.params.id);
    });
    sendMedia(res, media);
  });

  // Cancels a scheduled send while it is still scheduled; 409 once released.
  router.delete('/:id', async (req, res) => {
    const caller = req.caller!;
    const cancelled = await withTenant(deps.db.app, caller.tenantId, (t) => cancelScheduledMessage(t, req.params.id, caller.sandbox));
    if (!cancelled) throw new ConflictError('Only a scheduled message can be cancelled; this one has already been released or cancelled.');
    await enqueueAll(deps.queues, cancelled.jobs).catch((error: unknown) => deps.log.warn({ err: error, messageId: req.params.id }, 'enqueue failed; the outbox relay will retry'));
    res.json({ data: presentMessage(cancelled.row) });
  });

  router.get('/:id/events', async (req, res) => {
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listMessageEvents(t, req.params.id, req.caller!.sandbox));
    res.json({ data: rows });
  });

  // The message's status callbacks, one per announced status change, with each one's outcome.
  router.get('/:id/callbacks', async (req, res) => {
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listStatusCallbacks(t, req.params.id, CALLBACK_STATUSES, req.caller!.sandbox));
    res.json({ data: rows });
  });

  return router;
}
