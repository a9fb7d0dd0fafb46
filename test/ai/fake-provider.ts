import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for an OpenAI-compatible provider on 127.0.0.1, written against
 * the public chat-completions contract only. In `echo` mode it answers with
 * the system prompt it was given, so a test sees exactly which context a
 * reply was grounded in; `hang` never answers (timeouts); `error` returns 500.
 */
export interface FakeProvider {
  baseUrl: string;
  mode: 'echo' | 'hang' | 'error';
  requests: { authorization: string | undefined; body: { model: string; messages: { role: string; content: string }[] } }[];
  stop(): Promise<void>;
}

export async function startFakeProvider(): Promise<FakeProvider> {
  const hanging: http.ServerResponse[] = [];
  const fake: FakeProvider = {
    baseUrl: '',
    mode: 'echo',
    requests: [],
    async stop() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      fake.requests.push({ authorization: req.headers.authorization, body });
      if (fake.mode === 'hang') {
        hanging.push(res);
        return;
      }
      if (fake.mode === 'error') {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom' } }));
        return;
      }
      const system = (body.messages as { role: string; content: string }[]).find((message) => message.role === 'system')?.content ?? '';
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'chatcmpl-fake',
          object: 'chat.completion',
          model: body.model,
          choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: `ECHO ${system}` } }],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}
