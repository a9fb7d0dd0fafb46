import type { TenantTx } from '../db/tenant';
import { decryptSecret, encryptSecret } from '../crypto';
import type { PutPersonaBody } from '../schemas/ai';
import type { ProviderConfig } from '../ai/provider';

export interface PersonaRow {
  tenant_id: string;
  business_name: string | null;
  help_response: string | null;
  voice_handoff_number: string | null;
  auto_reply_enabled: boolean;
  instructions: string | null;
  tone: string | null;
  provider_base_url: string | null;
  provider_model: string | null;
  provider_api_key_encrypted: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The tenant's persona, or null when it never set one (auto-reply is then off). */
export async function getPersona(t: TenantTx): Promise<PersonaRow | null> {
  return ((await t.from('ai_personas').first()) as PersonaRow | undefined) ?? null;
}

/** Whether the tenant turned AI auto-reply on. */
export async function autoReplyEnabled(t: TenantTx): Promise<boolean> {
  return Boolean(await t.from('ai_personas').where({ auto_reply_enabled: true }).first('tenant_id'));
}

/** What the HELP answer is made of, or undefined when the tenant has no persona. */
export async function helpPersona(t: TenantTx): Promise<Pick<PersonaRow, 'business_name' | 'help_response' | 'voice_handoff_number'> | undefined> {
  return (await t.from('ai_personas').first('business_name', 'help_response', 'voice_handoff_number')) as
    | Pick<PersonaRow, 'business_name' | 'help_response' | 'voice_handoff_number'>
    | undefined;
}

/** The provider's key never leaves the platform: only whether one is stored. */
export function presentPersona(row: PersonaRow | null) {
  return {
    business_name: row?.business_name ?? null,
    help_response: row?.help_response ?? null,
    voice_handoff_number: row?.voice_handoff_number ?? null,
    auto_reply_enabled: row?.auto_reply_enabled ?? false,
    instructions: row?.instructions ?? null,
    tone: row?.tone ?? null,
    provider: row?.provider_base_url
      ? { base_url: row.provider_base_url, model: row.provider_model, api_key_set: Boolean(row.provider_api_key_encrypted) }
      : null,
    created_at: row?.created_at ?? null,
    updated_at: row?.updated_at ?? null,
  };
}

/**
 * Creates or updates the persona with the fields given (others keep their
 * value). A provider without `api_key` keeps the stored key only while its
 * base URL is unchanged: a key is never sent to a host it was not given for.
 */
export async function putPersona(t: TenantTx, encryptionKey: Buffer, body: PutPersonaBody): Promise<PersonaRow> {
  const current = (await t.from('ai_personas').forUpdate().first()) as PersonaRow | undefined;
  const changes: Record<string, unknown> = {};
  for (const field of ['business_name', 'help_response', 'voice_handoff_number', 'auto_reply_enabled', 'instructions', 'tone'] as const) {
    if (body[field] !== undefined) changes[field] = body[field];
  }
  if (body.provider === null) {
    Object.assign(changes, { provider_base_url: null, provider_model: null, provider_api_key_encrypted: null });
  } else if (body.provider !== undefined) {
    const { base_url: baseUrl, model, api_key: apiKey } = body.provider;
    let key: string | null;
    if (typeof apiKey === 'string') key = encryptSecret(encryptionKey, apiKey);
    else if (apiKey === null) key = null;
    else key = current?.provider_base_url === baseUrl ? current.provider_api_key_encrypted : null;
    Object.assign(changes, { provider_base_url: baseUrl, provider_model: model, provider_api_key_encrypted: key });
  }
  const [row] = current
    ? await t.from('ai_personas').update({ ...changes, updated_at: t.trx.fn.now() }).returning('*')
    : await t.insert('ai_personas', changes).onConflict('tenant_id').merge({ ...changes, updated_at: t.trx.fn.now() }).returning('*');
  return row as PersonaRow;
}

export function providerConfigOf(row: PersonaRow | null, encryptionKey: Buffer): ProviderConfig | null {
  if (!row?.provider_base_url || !row.provider_model) return null;
  return {
    baseUrl: row.provider_base_url,
    model: row.provider_model,
    apiKey: row.provider_api_key_encrypted ? decryptSecret(encryptionKey, row.provider_api_key_encrypted) : null,
  };
}
