import { KnowledgeIndex, retrieve, RetrievedPassage } from './retrieval';

/**
 * The offline responder answers only when the best passage contains at least
 * half of the question's meaningful words (stop-words dropped, light stemming;
 * at least one word). BM25 scores are not comparable across tenants or corpus
 * sizes, so the gate is this coverage, not a score: "what are your hours?"
 * (one meaningful word, "hour") matches an hours FAQ; "do you sell pizza?"
 * (sell, pizza) against a shop FAQ that mentions neither hands off.
 */
export const MIN_COVERAGE = 0.5;

/** A second sentence joins the best one when it scores at least this share of it. */
const SECOND_SENTENCE_SHARE = 0.5;
const TEXT_REPLY_MAX_CHARS = 320;

export interface PersonaVoice {
  business_name: string | null;
  voice_handoff_number: string | null;
}

export interface OfflineReply {
  kind: 'faq' | 'text' | 'handoff';
  reply: string;
  sourceIds: string[];
}

export function handoffReply(persona: PersonaVoice | null, tenantName: string): string {
  const business = persona?.business_name || tenantName;
  const next = persona?.voice_handoff_number
    ? `please call us at ${persona.voice_handoff_number} and a person will help you`
    : 'a member of our team will get back to you';
  return `${business}: Thanks for your message. I don't have an answer to that here; ${next}.`;
}

function answerFromText(best: RetrievedPassage, hits: RetrievedPassage[]): string {
  const chosen = [best];
  const second = hits.find(
    (hit) => hit !== best && hit.passage.sourceId === best.passage.sourceId && hit.score >= best.score * SECOND_SENTENCE_SHARE,
  );
  if (second && (best.passage.text ?? '').length + (second.passage.text ?? '').length + 1 <= TEXT_REPLY_MAX_CHARS) chosen.push(second);
  return chosen
    .sort((left, right) => left.passage.position - right.passage.position)
    .map((hit) => hit.passage.text)
    .join(' ');
}

/** Answers from the tenant's own index: an FAQ's answer, the best sentence(s) of a text, or a hand-off. */
export function offlineReply(index: KnowledgeIndex, persona: PersonaVoice | null, tenantName: string, question: string): OfflineReply {
  const hits = retrieve(index, question, 8);
  // More of the question's words beats a higher score on fewer of them.
  const best = [...hits].sort((left, right) => right.coverage - left.coverage || right.score - left.score)[0];
  if (!best || best.coverage < MIN_COVERAGE) return { kind: 'handoff', reply: handoffReply(persona, tenantName), sourceIds: [] };
  if (best.passage.type === 'faq') return { kind: 'faq', reply: best.passage.answer ?? '', sourceIds: [best.passage.sourceId] };
  return { kind: 'text', reply: answerFromText(best, hits), sourceIds: [best.passage.sourceId] };
}
