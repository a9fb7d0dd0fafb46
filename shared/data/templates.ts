import type { TenantTx } from '../db/tenant';

export interface TemplateRow {
  tenant_id: string;
  id: string;
  name: string;
  type: 'otp' | 'alert' | 'marketing';
  channel: 'imessage' | 'sms' | 'both';
  body: string;
  variables: string[];
  created_at: Date;
  updated_at: Date;
}

/** A send names a template by name (or by id); unknown → undefined. */
export async function findTemplateForSend(t: TenantTx, nameOrId: string): Promise<TemplateRow | undefined> {
  return (await t
    .from('templates')
    .where((scope) => void scope.where('name', nameOrId).orWhere('id', nameOrId))
    .first()) as TemplateRow | undefined;
}
