import type { Command } from 'commander';
import { Senderz, SenderzAdmin, SenderzError } from '../sdk/src';

/** Global flags; each falls back to its environment variable. */
export interface GlobalOptions {
  url?: string;
  apiKey?: string;
  adminKey?: string;
  json?: boolean;
}

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** A usage problem the user can fix (exit code 2), as opposed to an API error (exit code 1). */
export class UsageError extends Error {}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function baseUrl(options: GlobalOptions): string {
  return options.url ?? process.env.SENDERZ_URL ?? DEFAULT_URL;
}

export function tenantClient(command: Command): Senderz {
  const options = globals(command);
  const apiKey = options.apiKey ?? process.env.SENDERZ_API_KEY;
  if (!apiKey) throw new UsageError('no API key: pass --api-key or set SENDERZ_API_KEY');
  return new Senderz({ apiKey, baseUrl: baseUrl(options) });
}

export function adminClient(command: Command): SenderzAdmin {
  const options = globals(command);
  const adminKey = options.adminKey ?? process.env.SENDERZ_ADMIN_KEY;
  if (!adminKey) throw new UsageError('no operator key: pass --admin-key or set SENDERZ_ADMIN_KEY');
  return new SenderzAdmin({ adminKey, baseUrl: baseUrl(options) });
}

export function write(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** `--json`: the value as one JSON line, for scripts; otherwise the human rendering. */
export function output(command: Command, value: unknown, human: () => string): void {
  write(globals(command).json ? JSON.stringify(value) : human());
}

/** Renders an error for a person or, with --json, as `{error, code, status, request_id, details?}` on stderr. */
export function renderError(error: unknown, json: boolean): { text: string; exitCode: number } {
  if (error instanceof SenderzError) {
    const body = { error: error.message, code: error.code, status: error.status, request_id: error.requestId, ...(error.details ? { details: error.details } : {}) };
    if (json) return { text: JSON.stringify(body), exitCode: 1 };
    const details = (error.details ?? []).map((detail) => `\n  ${detail.path}: ${detail.message}`).join('');
    const where = [error.code, error.status ? `HTTP ${error.status}` : null, error.requestId ? `request ${error.requestId}` : null].filter(Boolean).join(', ');
    return { text: `error: ${error.message} (${where})${details}`, exitCode: 1 };
  }
  const message = error instanceof Error ? error.message : String(error);
  const exitCode = error instanceof UsageError ? 2 : 1;
  return { text: json ? JSON.stringify({ error: message, code: exitCode === 2 ? 'USAGE' : 'CLI_ERROR' }) : `error: ${message}`, exitCode };
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n');
}
