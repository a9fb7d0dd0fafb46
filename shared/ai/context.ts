import type { TenantTx } from '../db/tenant';
import { getOwnTenant } from '../data/tenants';
import { getPersona, PersonaRow, providerConfigOf } from '../data/personas';
import { loadKnowledge } from '../data/ai-sources';
import type { ComposeInput } from './responder';

export interface ReplyContext extends Omit<ComposeInput, 'message'> {
  personaRow: PersonaRow | null;
}

/**
 * Everything a reply is composed from, read inside the tenant's own scope
 * (RLS applies): its persona, name, sources and provider. The preview route
 * and the auto-reply follow-up both start here, so they answer alike.
 */
export async function loadReplyContext(t: TenantTx, encryptionKey: Buffer): Promise<ReplyContext> {
  const personaRow = await getPersona(t);
  const tenant = await getOwnTenant(t);
  const sources = await loadKnowledge(t);
  return { personaRow, persona: personaRow, tenantName: tenant.name, sources, provider: providerConfigOf(personaRow, encryptionKey) };
}
