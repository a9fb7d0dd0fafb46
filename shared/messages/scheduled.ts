import type { TenantTx } from '../db/tenant';
import { getMessage, MessageRow } from '../data/messages';
import { consumeOutbox, OutboxJob } from '../outbox';
import { transitionMessage } from './status';

/**
 * Cancels a scheduled send (DELETE /v1/messages/:id): scheduled → cancelled
 * and its release dropped from the outbox. Returns the cancelled row and the
 * webhook job to enqueue, or null when the message had already left
 * `scheduled` (released, or cancelled before).
 */
export async function cancelScheduledMessage(t: TenantTx, id: string, sandbox: boolean): Promise<{ row: MessageRow; jobs: OutboxJob[] } | null> {
  await getMessage(t, id, { forUpdate: true, sandbox });
  const transition = await transitionMessage(t, id, 'cancelled', { reason: 'cancelled' });
  if (!transition.changed) return null;
  await consumeOutbox(t, 'sending', 'release-scheduled', id);
  return { row: await getMessage(t, id), jobs: transition.jobs };
}
