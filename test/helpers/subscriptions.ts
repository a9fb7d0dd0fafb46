import { harness } from './harness';
import { newId } from '../../shared/ids';
import { encryptSecret } from '../../shared/crypto';

/** A stored webhook subscription (no receiver behind it): enough for events to be recorded. */
export async function subscribe(tenantId: string, events: string[]): Promise<string> {
  const id = newId();
  await harness()
    .db.owner('webhooks')
    .insert({ tenant_id: tenantId, id, url: 'http://127.0.0.1:9/hook', events, secret_encrypted: encryptSecret(harness().config.encryptionKey, 'whsec_dGVzdA==') });
  return id;
}
