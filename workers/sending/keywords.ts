/**
 * Carrier keywords. Only the whole message counts: it is trimmed, trailing
 * punctuation (. ! ?) is dropped, and it is compared case-insensitively, so
 * "Stop." opts out while "stop by tomorrow" or "yes please" change nothing.
 */
export const STOP_KEYWORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'] as const;
export const START_KEYWORDS = ['START', 'UNSTOP', 'YES'] as const;
export const HELP_KEYWORDS = ['HELP', 'INFO', 'AIDE'] as const;

export type KeywordKind = 'stop' | 'start' | 'help';

export function normalizeKeyword(body: string): string {
  return body.trim().replace(/[.!?]+$/u, '').trim().toUpperCase();
}

export function classifyKeyword(body: string): { kind: KeywordKind; keyword: string } | null {
  const word = normalizeKeyword(body);
  if ((STOP_KEYWORDS as readonly string[]).includes(word)) return { kind: 'stop', keyword: word };
  if ((START_KEYWORDS as readonly string[]).includes(word)) return { kind: 'start', keyword: word };
  if ((HELP_KEYWORDS as readonly string[]).includes(word)) return { kind: 'help', keyword: word };
  return null;
}

export interface PersonaForHelp {
  business_name: string | null;
  help_response: string | null;
  voice_handoff_number: string | null;
}

/**
 * The HELP answer: the persona's `help_response` verbatim when set, else
 * "{business_name}: For support, contact {help_contact}. Reply STOP to
 * unsubscribe." with business_name = persona business_name, else the tenant's
 * name, and help_contact = persona voice_handoff_number, else "us by replying
 * to this message" (the conversation itself is the support channel).
 */
export function helpReply(persona: PersonaForHelp | undefined, tenantName: string): string {
  if (persona?.help_response) return persona.help_response;
  const business = persona?.business_name || tenantName;
  const contact = persona?.voice_handoff_number || 'us by replying to this message';
  return `${business}: For support, contact ${contact}. Reply STOP to unsubscribe.`;
}

export function stopReply(business: string): string {
  return `${business}: You are unsubscribed and will receive no more messages. Reply START to resubscribe.`;
}

export function startReply(business: string): string {
  return `${business}: You are resubscribed. Reply HELP for help, STOP to unsubscribe.`;
}
