import type { MessageType } from '../data/messages';

/**
 * BullMQ priorities (1 = first). OTP before alert before marketing, and bulk
 * (campaign) traffic after single sends of the same type, so one tenant's
 * 10,000-message campaign never holds back another tenant's single send.
 * Every job gets a priority: BullMQ runs priority-less jobs before all others.
 */
export function messagePriority(type: MessageType, bulk: boolean): number {
  const base = type === 'otp' ? 1 : type === 'alert' ? 2 : 3;
  return bulk ? base + 3 : base;
}
