import { buildKnowledgeIndex, KnowledgeSource, retrieve, RetrievedPassage } from './retrieval';
import { handoffReply, offlineReply, PersonaVoice } from './offline';
import { chatCompletion, ProviderCallOptions, ProviderConfig, ProviderError } from './provider';
import { MAX_REPLY_CHARS } from '../schemas/ai';

/** How long a reply waits for the tenant's provider before answering offline. */
export const DEFAULT_PROVIDER_TIMEOUT_MS = 8000;
/** Passages given to the provider as context. */
const CONTEXT_PASSAGES = 5;

export interface PersonaForReply extends PersonaVoice {
  instructions: string | null;
  tone: string | null;
}

export interface ComposeInput {
  /** Everything below belongs to ONE tenant, loaded inside its own scope. */
  persona: PersonaForReply | null;
  tenantName: string;
  sources: KnowledgeSource[];
  provider: ProviderConfig | null;
  message: string;
}

export interface ComposedReply {
  reply: string;
  responder: 'offline' | 'provider';
  kind: 'faq' | 'text' | 'handoff' | 'generated';
  source_ids: string[];
  /** Set when a configured provider failed and the offline responder answered instead. */
  provider_error?: string;
}

function contextLine(hit: RetrievedPassage, number: number): string {
  const { passage } = hit;
  return passage.type === 'faq' ? `[${number}] Q: ${passage.question}\nA: ${passage.answer}` : `[${number}] ${passage.title}: ${passage.text}`;
}

export function systemPrompt(persona: PersonaForReply | null, tenantName: string, context: RetrievedPassage[]): string {
  const business = persona?.business_name || tenantName;
  const fallback = persona?.voice_handoff_number
    ? `say a person will help and give the phone number ${persona.voice_handoff_number}`
    : 'say a member of the team will get back to them';
  return [
    `You answer text messages sent to ${business}.`,
    persona?.instructions ? `Instructions from ${business}: ${persona.instructions}` : '',
    persona?.tone ? `Tone: ${persona.tone}.` : '',
    `Answer only from the reference notes below. If they do not contain the answer, ${fallback}.`,
    'Reply in plain text (no markdown), in at most 320 characters.',
    'Reference notes:',
    context.length > 0 ? context.map((hit, index) => contextLine(hit, index + 1)).join('\n') : '(none)',
  ]
    .filter(Boolean)
    .join('\n');
}

function clip(text: string): string {
  return text.length <= MAX_REPLY_CHARS ? text : `${text.slice(0, MAX_REPLY_CHARS - 1).trimEnd()}…`;
}

/**
 * What the persona answers to one inbound message: the tenant's provider with
 * the best passages of the tenant's own sources as context, or (no provider,
 * or it failed or timed out) the offline BM25 responder over the same sources.
 */
export async function composeReply(input: ComposeInput, options: ProviderCallOptions = { timeoutMs: DEFAULT_PROVIDER_TIMEOUT_MS, allowPrivateNetworks: false }): Promise<ComposedReply> {
  const index = buildKnowledgeIndex(input.sources);
  let providerError: string | undefined;
  if (input.provider) {
    const context = retrieve(index, input.message, CONTEXT_PASSAGES);
    try {
      const text = await chatCompletion(input.provider, systemPrompt(input.persona, input.tenantName, context), input.message, options);
      return {
        reply: clip(text),
        responder: 'provider',
        kind: 'generated',
        source_ids: [...new Set(context.map((hit) => hit.passage.sourceId))],
      };
    } catch (error) {
      providerError = error instanceof ProviderError ? error.reason : 'network_error';
    }
  }
  const offline = offlineReply(index, input.persona, input.tenantName, input.message);
  const reply = offline.reply.trim() ? offline.reply : handoffReply(input.persona, input.tenantName);
  return {
    reply: clip(reply),
    responder: 'offline',
    kind: offline.kind,
    source_ids: offline.sourceIds,
    ...(providerError ? { provider_error: providerError } : {}),
  };
}
