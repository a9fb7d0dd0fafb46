import type { QueueHandlers } from '../runtime';
import type { WorkerDeps } from '../deps';
import { createUsageRollUp } from './roll-up';

/** The billing pool: monthly usage records (and the period-closed billing events). */
export function createBillingHandlers(deps: WorkerDeps): QueueHandlers<'billing'> {
  return {
    'roll-up-usage': createUsageRollUp(deps),
  };
}
