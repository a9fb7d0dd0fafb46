import type { Capabilities } from '../schemas/admin';
import type { Channel, RequestedChannel } from '../data/messages';

export interface RecipientCapabilities {
  imessage: boolean;
  rcs: boolean;
  sms: boolean;
}

export type ChannelDecision = { channel: Channel } | { fail: string };

/**
 * `auto`: iMessage when the recipient is iMessage-capable, else RCS where the
 * line supports it and the recipient can take it, else SMS. A forced channel
 * the line cannot carry, or a forced iMessage to a number known not to have
 * it, fails with the protocol's reason.
 */
export function decideChannel(requested: RequestedChannel, line: Capabilities, recipient: RecipientCapabilities | null, exclude: Set<Channel> = new Set()): ChannelDecision {
  if (requested !== 'auto') {
    if (!line[requested]) return { fail: `line_without_${requested}` };
    if (exclude.has(requested) || (recipient && !recipient[requested])) return { fail: `not_${requested}` };
    return { channel: requested };
  }
  const order: Channel[] = ['imessage', 'rcs', 'sms'];
  for (const channel of order) {
    if (exclude.has(channel) || !line[channel]) continue;
    // Unknown capabilities: try iMessage and let the bridge's 422 teach us.
    if (!recipient || recipient[channel]) return { channel };
  }
  return { fail: 'no_channel' };
}
