// The simulator's own HTTP client for posting events to the platform. It is a
// bridge written from docs/device-protocol.md alone, so it shares no code with the
// platform. node:http with a kept-alive agent rather than fetch: on a small
// machine fetch costs several times the CPU per small JSON post.
import http from 'node:http';
import https from 'node:https';

export interface PostAnswer {
  status: number;
  text: string;
}

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

/** Largest answer read from the platform (its answers are a few bytes). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** POSTs `body` to `url`; rejects on network errors, on `timeoutMs` for the whole exchange, and when `signal` aborts. */
export function postJson(url: string, options: { headers: Record<string, string>; body: string; timeoutMs: number; signal?: AbortSignal }): Promise<PostAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
    if (!transport) return reject(new Error(`unsupported protocol ${target.protocol}`));
    if (options.signal?.aborted) return reject(new Error('aborted'));
    let done = false;
    const finish = (error: Error | null, answer?: PostAnswer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(answer!);
    };
    const headers = { ...options.headers, 'Content-Length': String(Buffer.byteLength(options.body)) };
    const request = transport.request(target, { method: 'POST', headers, agent: agents[target.protocol as 'http:' | 'https:'] }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      response.on('end', () => finish(null, { status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', (error) => finish(error));
    });
    const timer = setTimeout(() => request.destroy(new Error(`timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
    const onAbort = () => request.destroy(new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => finish(error));
    request.end(options.body);
  });
}

/** Largest attachment the simulator downloads (the protocol's limit is 5 MiB). */
const MAX_MEDIA_BYTES = 5 * 1024 * 1024;

/** GETs an attachment the platform signed for this push; rejects on a non-200, a timeout or more than 5 MiB. */
export function getBytes(url: string, timeoutMs: number): Promise<{ contentType: string; content: Buffer }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
    if (!transport) return reject(new Error(`unsupported protocol ${target.protocol}`));
    const request = transport.get(target, { agent: agents[target.protocol as 'http:' | 'https:'] }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        request.destroy();
        return reject(new Error(`download answered ${response.statusCode}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_MEDIA_BYTES) request.destroy(new Error('attachment too large'));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ contentType: String(response.headers['content-type'] ?? ''), content: Buffer.concat(chunks) });
      });
      response.on('error', reject);
    });
    const timer = setTimeout(() => request.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
