import type { QueueHandlers } from '../runtime';
import type { WorkerDeps } from '../deps';
import { createRouter } from './router';
import { createInboundProcessor, InboundFollowUp } from './inbound';
import { createSandboxAdvancer } from './sandbox';
import { createScheduledReleaser } from './release';
import { ComplianceCheck, defaultComplianceChecks } from './compliance';
import { createAutoReplyFollowUp } from './auto-reply';
import { createMediaFetcher } from './media';

export interface SendingPoolOptions {
  checks?: ComplianceCheck[];
  inboundFollowUps?: InboundFollowUp[];
}

/** The sending (router) pool: attachments, routing, inbound processing, sandbox delivery, releasing scheduled sends. */
export function createSendingHandlers(deps: WorkerDeps, options: SendingPoolOptions = {}): QueueHandlers<'sending'> {
  return {
    'route-message': createRouter(deps, options.checks ?? defaultComplianceChecks()),
    'process-inbound': createInboundProcessor(deps, options.inboundFollowUps ?? [createAutoReplyFollowUp()]),
    'sandbox-advance': createSandboxAdvancer(deps),
    'release-scheduled': createScheduledReleaser(deps),
    'fetch-media': createMediaFetcher(deps),
  };
}
