// A tiny OpenAI-compatible upstream for the browser tests: /v1/models and
// /v1/chat/completions (streamed with a usage chunk, or not).
import http from 'node:http';

export const FAKE_USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
export const FAKE_PIECES = ['Hello', ' from the', ' fake upstream.'];

/** Starts the server on a free loopback port; resolves to { url, requests, close }. */
export function startFakeUpstream({ chunkDelayMs = 400 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const parsed = body ? safeJson(body) : null;
      requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, body: parsed });
      if (req.method === 'GET' && req.url === '/v1/models') {
        json(res, 200, {
          object: 'list',
          data: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'].map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake' })),
        });
        return;
      }
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        const model = parsed?.model ?? 'gpt-4o-mini';
        const created = Math.floor(Date.now() / 1000);
        if (!parsed?.stream) {
          json(res, 200, {
            id: 'chatcmpl-fake',
            object: 'chat.completion',
            created,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: FAKE_PIECES.join('') }, finish_reason: 'stop' }],
            usage: FAKE_USAGE,
          });
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
        const send = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
        const chunk = (delta, finish = null) => ({
          id: 'chatcmpl-fake',
          object: 'chat.completion.chunk',
          created,
          model,
          choices: [{ index: 0, delta, finish_reason: finish }],
        });
        send(chunk({ role: 'assistant', content: '' }));
        for (const p of FAKE_PIECES) {
          send(chunk({ content: p }));
          // Pauses between pieces let the test see the answer grow.
          await sleep(chunkDelayMs);
        }
        send(chunk({}, 'stop'));
        send({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created, model, choices: [], usage: FAKE_USAGE });
        res.write('data: [DONE]\n\n');
        res.end();
        return;
      }
      json(res, 404, { error: { message: `fake upstream: no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

function json(res, status, obj) {
  const b = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(b) });
  res.end(b);
}

function safeJson(s) {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
