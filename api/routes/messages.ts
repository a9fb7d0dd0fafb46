import { Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { AppError, ForbiddenError, ServiceUnavailableError, ValidationError } from '../../shared/errors';
import { messagesAccepted, messageStatusTotal } from '../../shared/metrics';
import { enqueueAll } from '../../shared/outbox';
import { acceptOutbound } from '../../shared/messages/outbound';
import { getMessage, listMessageEvents, listMessages, MessageFilters, presentMessage, RequestedChannel } from '../../shared/data/messages';
import { findTemplateForSend } from '../../shared/data/templates';
import { renderTemplate } from '../../shared/templates';
import { listMessagesQuery, MAX_BODY_LENGTH, sendMessageQuery, sendMessageSchema } from '../../shared/schemas/messages';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseSend = bodyValidator(sendMessageSchema);
const parseSendQuery = queryValidator<{ dispatch_webhook?: boolean }>(sendMessageQuery);
const parseList = queryValidator<MessageFilters & { limit?: number; cursor?: string }>(listMessagesQuery);

/** A rough expectation for clients' timeouts, by channel, from the simulator and field numbers. */
const ESTIMATED_DELIVERY_MS: Record<string, number> = { imessage: 2000, rcs: 3000, sms: 5000, auto: 3000 };

export function messageRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const caller = req.caller!;
    const body = parseSend(req);
    const query = parseSendQuery(req);
    if ((body.body === undefined) === (body.template === undefined)) {
      throw new ValidationError('Invalid request body: give exactly one of body or template.', [
        { path: body.body === undefined ? 'body' : 'template', message: 'exactly one of body or template is required' },
      ]);
    }
    if (body.data !== undefined && body.template === undefined) {
      throw new ValidationError('Invalid request body: data is only used with template.', [{ path: 'data', message: 'requires template' }]);
    }

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

    // One statement: line check, opt-out check, message, history and outbox rows.
    const accepted = await acceptOutbound(deps.db.app, caller.tenantId, {
      to: body.to,
      body: text,
      requestedChannel: channel,
      messageType: messageType ?? 'alert',
      pinnedFrom: body.from_number ?? null,
      templateId,
      sandbox: caller.sandbox,
      dispatchWebhook: caller.sandbox ? query.dispatch_webhook === true : true,
      checkLines: caller.sandbox ? undefined : { pool: caller.pool },
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
      },
    });
  });

  router.get('/', async (req, res) => {
    const query = parseList(req);
    const page = pageFrom(query);
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listMessages(t, { ...query, sandbox: req.caller!.sandbox }, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentMessage, (row) => row.id));
  });

  router.get('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getMessage(t, req.params.id, { sandbox: req.caller!.sandbox }));
    res.json({ data: presentMessage(row) });
  });

  router.get('/:id/events', async (req, res) => {
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listMessageEvents(t, req.params.id, req.caller!.sandbox));
    res.json({ data: rows });
  });

  return router;
}
