import { withTenant, TenantTx } from '../../shared/db/tenant';
import { NotFoundError } from '../../shared/errors';
import { consumeOutbox } from '../../shared/outbox';
import type { JobName } from '../../shared/queues';
import type { WorkerDeps } from '../deps';

/**
 * Runs a webhooks job's work in the tenant's transaction. When a record is
 * missing or not the tenant's, the job ends (terminal, via the runtime) and its
 * outbox row is dropped, so the relay does not bring back work that can never
 * run. For a payload naming another tenant's ids there is no such row: nothing
 * changes.
 */
export async function inTenant<T>(
  deps: WorkerDeps,
  tenantId: string,
  job: JobName<'webhooks'>,
  refId: string,
  work: (t: TenantTx) => Promise<T>,
): Promise<T> {
  try {
    return await withTenant(deps.db.app, tenantId, work);
  } catch (error) {
    if (error instanceof NotFoundError) {
      await withTenant(deps.db.app, tenantId, (t) => consumeOutbox(t, 'webhooks', job, refId));
    }
    throw error;
  }
}
