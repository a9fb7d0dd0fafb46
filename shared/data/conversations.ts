import type { TenantTx } from '../db/tenant';

/**
 * Has a person taken the conversation with a number over? Either
 * `conversations.manual_until` says so, or the tenant sent this number a
 * message in the last `minutes` that was not a campaign, not a keyword
 * confirmation and not an auto-reply (auto-replies are the ones
 * auto_reply_log names as its reply).
 */
export async function conversationTakenOver(t: TenantTx, phoneNumber: string, minutes: number): Promise<boolean> {
  const manual = await t
    .from('conversations')
    .where({ phone_number: phoneNumber })
    .where('manual_until', '>', t.trx.fn.now())
    .first('phone_number');
  if (manual) return true;
  const recent = await t.trx.raw(
    `SELECT 1 FROM messages m
      WHERE m.tenant_id = ? AND m.to_number = ? AND m.direction = 'outbound'
        AND m.campaign_id IS NULL AND m.system_reply = false AND m.sandbox = false
        AND m.created_at > now() - make_interval(mins => ?)
        AND NOT EXISTS (SELECT 1 FROM auto_reply_log a WHERE a.tenant_id = m.tenant_id AND a.reply_message_id = m.id)
      LIMIT 1`,
    [t.tenantId, phoneNumber, minutes],
  );
  return recent.rows.length > 0;
}
