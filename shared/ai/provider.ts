import { OutboundRequestError, postJson } from './http';

/** A tenant's own OpenAI-compatible endpoint, key decrypted only for the call. */
export interface ProviderConfig {
  baseUrl: string;
  model: string;
  apiKey: string | null;
}

export interface ProviderCallOptions {
  timeoutMs: number;
  allowPrivateNetworks: boolean;
}

/** A provider failure the responder falls back from; `reason` is safe to show the tenant. */
export class ProviderError extends Error {
  constructor(readonly reason: string) {
    super(`AI provider call failed: ${reason}`);
    this.name = 'ProviderError';
  }
}

/** Generated replies are short texts; a cap on tokens bounds cost and latency. */
const MAX_TOKENS = 300;

/**
 * POST `${baseUrl}/chat/completions` (the OpenAI chat API that most providers
 * and local servers speak) and returns the first choice's text.
 */
export async function chatCompletion(config: ProviderConfig, system: string, user: string, options: ProviderCallOptions): Promise<string> {
  const headers: Record<string, string> = {};
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
  let response;
  try {
    response = await postJson(
      `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`,
      {
        model: config.model,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: user },
        ],
        max_tokens: MAX_TOKENS,
        temperature: 0.2,
      },
      { timeoutMs: options.timeoutMs, allowPrivateNetworks: options.allowPrivateNetworks, headers },
    );
  } catch (error) {
    throw new ProviderError(error instanceof OutboundRequestError ? error.reason : 'network_error');
  }
  if (response.status < 200 || response.status >= 300) throw new ProviderError(`http_${response.status}`);
  let parsed: { choices?: { message?: { content?: unknown } }[] };
  try {
    parsed = JSON.parse(response.body) as typeof parsed;
  } catch {
    throw new ProviderError('invalid_response');
  }
  const content = parsed.choices?.[0]?.message?.content;
  if (typeof content !== 'string' || content.trim() === '') throw new ProviderError('invalid_response');
  return content.trim();
}
