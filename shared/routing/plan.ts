import type { Channel, RequestedChannel } from '../data/messages';
import type { PhoneLineRow } from '../data/phone-lines';
import { askCapabilities, CapabilityAsker, CapabilityResult } from '../device/client';
import type { Logger } from '../logger';
import { chooseLine, RoutingTenant } from './lines';
import { decideChannel, RecipientCapabilities } from './channels';
import type { LineDirectory } from './line-directory';

export interface PlannedDispatch {
  line: PhoneLineRow;
  channel: Channel;
}

/**
 * A route: a line and channel (with the capability answer a bridge gave on
 * the way, to be stored with the decision), a permanent failure, or nothing
 * usable right now.
 */
export type RoutePlan = { dispatch: PlannedDispatch; learned: CapabilityResult | null } | { fail: string } | { wait: true };

/** What the router knows of the recipient before choosing. */
export interface RouteSubject {
  to_number: string;
  requested_channel: RequestedChannel;
  pinned_from: string | null;
  /** The line this tenant last used for the recipient. */
  sticky_line_id: string | null;
  /** Cached capabilities, or null when never checked (or expired). */
  capabilities: RecipientCapabilities | null;
  /** Pooled lines on which another tenant holds the conversation with the recipient. */
  held_lines: string[];
}

export interface PlanDeps {
  lines: LineDirectory;
  deviceTimeoutMs: number;
  log: Logger;
  /** Gathers concurrent capability checks of a line into one bridge call (createCapabilityAsker); one call per check without it. */
  askCapability?: CapabilityAsker;
}

/**
 * Chooses a line and channel for a message. Runs outside any transaction: it
 * may ask a bridge for the recipient's capabilities. A recipient held by
 * another tenant on a pooled line is never sent to from that line.
 */
export async function planRoute(
  deps: PlanDeps,
  tenant: RoutingTenant,
  subject: RouteSubject,
  options: { excludeLines?: Set<string>; excludeChannels?: Set<Channel>; freshLines?: boolean } = {},
): Promise<RoutePlan> {
  let lines = await deps.lines.usable(tenant, { fresh: options.freshLines });
  const exclude = new Set([...(options.excludeLines ?? []), ...subject.held_lines]);
  const pick = () => chooseLine(lines, tenant, subject.to_number, { pinnedFrom: subject.pinned_from, stickyLineId: subject.sticky_line_id, exclude });
  let line = pick();
  if (!line && !options.freshLines) {
    // A cached list may be a second old: look again before the message waits.
    lines = await deps.lines.usable(tenant, { fresh: true });
    line = pick();
  }
  if (subject.pinned_from && !lines.some((candidate) => candidate.phone_number === subject.pinned_from)) return { fail: 'line_unavailable' };
  if (!line) return { wait: true };

  let recipient = subject.capabilities;
  let learned: CapabilityResult | null = null;
  if (!recipient && subject.requested_channel === 'auto' && line.capabilities.imessage) {
    try {
      const target = { lineId: line.id, bridgeUrl: line.bridge_url, secret: deps.lines.secret(line) };
      const answer = deps.askCapability ? await deps.askCapability(target, subject.to_number) : (await askCapabilities(target, [subject.to_number], deps.deviceTimeoutMs))[0];
      if (answer) {
        learned = answer;
        recipient = { imessage: Boolean(answer.imessage), sms: answer.sms !== false, rcs: Boolean(answer.rcs) };
      }
    } catch (error) {
      // Without an answer, try iMessage: a 422 not_imessage from the bridge falls back.
      deps.log.warn({ lineId: line.id, err: (error as Error).message }, 'capability check failed');
    }
  }
  const decision = decideChannel(subject.requested_channel, line.capabilities, recipient, options.excludeChannels);
  if ('fail' in decision) return { fail: decision.fail };
  return { dispatch: { line, channel: decision.channel }, learned };
}
