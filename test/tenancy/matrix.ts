import type { TestTenant } from '../helpers/harness';

/**
 * The tenancy matrix: one row per tenant-scoped resource. For each row the
 * matrix test creates the resource as tenant A, then calls every listed route
 * with tenant B's key on A's id and expects 404 with no row changed, and
 * expects A's id absent from B's list. Adding a route means adding it here.
 */
export interface TenancyRoute {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  path: (id: string) => string;
  body?: (id: string) => object;
  /** Expected status for the foreign caller; 404 unless the id travels in a body (400 naming it). */
  expect?: number;
}

export interface TenancyRow {
  resource: string;
  /** Creates the resource as `owner` and returns its id. */
  create(owner: TestTenant): Promise<string>;
  /** The row(s) as stored, read through the owner pool, to prove nothing changed. */
  table: string;
  idColumn?: string;
  list?: string;
  /** Which key of each tenant the row's calls use (default live). */
  keys?: 'live' | 'sandbox';
  routes: TenancyRoute[];
}

export const tenancyRows: TenancyRow[] = [];

export function addTenancyRows(...rows: TenancyRow[]): void {
  tenancyRows.push(...rows);
}
