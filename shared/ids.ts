import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** Sortable ids (ULID). */
export function newId(): string {
  return nextUlid();
}

/** Sandbox message ids are told apart at a glance. */
export function newSandboxMessageId(): string {
  return 'sb_' + nextUlid();
}
