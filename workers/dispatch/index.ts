import type { QueueHandlers } from '../runtime';
import type { WorkerDeps } from '../deps';
import { createDispatcher } from './dispatcher';

/** The device dispatch pool: pushes sends to bridges. */
export function createDispatchHandlers(deps: WorkerDeps): QueueHandlers<'dispatch'> {
  return { 'dispatch-message': createDispatcher(deps) };
}
