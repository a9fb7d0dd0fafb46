import type { QueueHandlers } from '../runtime';
import type { WorkerDeps } from '../deps';
import { createCampaignLauncher } from './launch';
import { createFanOutChunk } from './fan-out';
import { createCompletionCheck } from './completion';
import { createCancelMessages } from './cancel';
import { createContactImporter } from './import-contacts';

/** The campaigns pool: contact imports and campaign launch, fan-out, completion and cancel. */
export function createCampaignHandlers(deps: WorkerDeps): QueueHandlers<'campaigns'> {
  return {
    'launch-campaign': createCampaignLauncher(deps),
    'fan-out-chunk': createFanOutChunk(deps),
    'check-completion': createCompletionCheck(deps),
    'cancel-campaign': createCancelMessages(deps),
    'import-contacts': createContactImporter(deps),
  };
}
