import type { TenantTx } from '../db/tenant';

/**
 * `auto_reply_log`: one row per inbound message that got (or was refused) an
 * automatic answer, keyed by the inbound message id. A keyword confirmation
 * (STOP/START/HELP) claims its row with no kind; an AI auto-reply records its
 * decision (`claimed`, then `replied`, or `skipped` with a reason) and the
 * reply it sent.
 */
export interface AutoReplyDecision {
  kind: string;
  status: string | null;
}

/**
 * Claims the confirmation of a keyword message, once: false when a previous
 * run of the job already claimed it (so a retry never confirms twice).
 */
export async function claimKeywordReply(t: TenantTx, phoneNumber: string, messageId: string): Promise<boolean> {
  const claimed = await t.trx.raw(
    `INSERT INTO auto_reply_log (tenant_id, phone_number, message_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING message_id`,
    [t.tenantId, phoneNumber, messageId],
  );
  return claimed.rows.length > 0;
}

/** Serializes auto-reply decisions for one number until the transaction ends, so the hourly cap holds under concurrent inbound jobs. */
export async function lockAutoReplyDecisions(t: TenantTx, phoneNumber: string): Promise<void> {
  await t.trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`auto-reply:${t.tenantId}:${phoneNumber}`]);
}

/** What was already decided for an inbound message, if anything. */
export async function autoReplyDecision(t: TenantTx, messageId: string): Promise<AutoReplyDecision | undefined> {
  return (await t.from('auto_reply_log').where({ message_id: messageId }).first('kind', 'status')) as AutoReplyDecision | undefined;
}

/** Records the decision for an inbound message: `claimed` (a reply will be composed) or `skipped` with its reason. */
export async function recordAutoReplyDecision(t: TenantTx, input: { phoneNumber: string; messageId: string; skipReason: string | null }): Promise<void> {
  await t.insert('auto_reply_log', {
    phone_number: input.phoneNumber,
    message_id: input.messageId,
    kind: 'auto_reply',
    status: input.skipReason ? 'skipped' : 'claimed',
    reason: input.skipReason,
  });
}

/** Auto-replies claimed or sent to a number in the rolling last hour (the loop guard's count). */
export async function autoRepliesInLastHour(t: TenantTx, phoneNumber: string): Promise<number> {
  const [{ n }] = (await t
    .from('auto_reply_log')
    .where({ phone_number: phoneNumber, kind: 'auto_reply' })
    .whereIn('status', ['claimed', 'replied'])
    .where('created_at', '>', t.trx.raw("now() - interval '1 hour'"))
    .count({ n: '*' })) as { n: number }[];
  return Number(n);
}

/**
 * claimed → replied, conditionally: false when another run already replied,
 * so two runs can never both send.
 */
export async function markAutoReplied(t: TenantTx, messageId: string, responder: string): Promise<boolean> {
  const won = await t.from('auto_reply_log').where({ message_id: messageId, kind: 'auto_reply', status: 'claimed' }).update({ status: 'replied', responder });
  return won > 0;
}

/** Names the outbound message that answered an inbound one (which is how a reply is told from a person's send). */
export async function linkAutoReply(t: TenantTx, messageId: string, replyMessageId: string): Promise<void> {
  await t.from('auto_reply_log').where({ message_id: messageId }).update({ reply_message_id: replyMessageId });
}
