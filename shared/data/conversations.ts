import type { Knex } from 'knex';
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

/** Notes an inbound message from `phoneNumber` on a line in the tenant's conversation with it. */
export async function touchInboundConversation(t: TenantTx, lineId: string, phoneNumber: string): Promise<void> {
  await t.trx.raw(
    `INSERT INTO conversations (tenant_id, line_id, phone_number, last_outbound_at, last_inbound_at) VALUES (?, ?, ?, now(), now())
     ON CONFLICT (tenant_id, line_id, phone_number) DO UPDATE SET last_inbound_at = now()`,
    [t.tenantId, lineId, phoneNumber],
  );
}

/** The tenant a number belongs to on a pooled line (the last one to message it), or null. */
export async function conversationOwner(app: Knex, lineId: string, phoneNumber: string): Promise<string | null> {
  const result = await app.raw('SELECT senderz_conversation_owner(?, ?) AS tenant_id', [lineId, phoneNumber]);
  return (result.rows[0]?.tenant_id as string | null | undefined) ?? null;
}
