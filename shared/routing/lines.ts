import type { PhoneLineRow, RoutingTenant } from '../data/phone-lines';

export type { RoutingTenant } from '../data/phone-lines';

export function mayUseLine(line: PhoneLineRow, tenant: RoutingTenant): boolean {
  if (!line.enabled) return false;
  if (line.mode === 'dedicated') return line.tenant_id === tenant.id;
  return line.pool === tenant.pool;
}

/**
 * The line for one send: a pinned number if given (and usable), else the line
 * already talking to this recipient if healthy, else a dedicated line, else a
 * pooled one; among equals, a stable hash of the recipient spreads load.
 */
export function chooseLine(
  candidates: PhoneLineRow[],
  tenant: RoutingTenant,
  recipient: string,
  options: { pinnedFrom?: string | null; stickyLineId?: string | null; exclude?: Set<string> } = {},
): PhoneLineRow | null {
  const online = candidates.filter((line) => line.status === 'online' && mayUseLine(line, tenant) && !options.exclude?.has(line.id));
  if (options.pinnedFrom) return online.find((line) => line.phone_number === options.pinnedFrom) ?? null;
  const sticky = options.stickyLineId ? online.find((line) => line.id === options.stickyLineId) : undefined;
  if (sticky) return sticky;
  const dedicated = online.filter((line) => line.mode === 'dedicated');
  const pool = dedicated.length > 0 ? dedicated : online;
  if (pool.length === 0) return null;
  let hash = 0;
  for (const char of recipient) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return pool[hash % pool.length];
}
