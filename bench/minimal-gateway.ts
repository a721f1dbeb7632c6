import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { Pool, type Dispatcher } from 'undici';
import { z } from 'zod';

/**
 * A reference for bench:gateway, not a product: the least work a gateway in Node does for the
 * benchmark's plain OpenAI request, with the libraries Switchyard's gateway uses. A key hashed and
 * looked up; the body parsed and checked by a small zod schema; the request sent upstream asking for
 * a stream (as a gateway that times first tokens and resumes broken answers must), through undici's
 * dispatch (no stream objects); the SSE split into lines and each data line parsed; a JSON answer
 * with its length, request id and one limit header; a counter and a TTFT histogram; one JSON log
 * line. Nothing else: no routing, no limits, no timeouts, no retries, no circuit, no translation, no
 * resume, no jurisdiction. What it costs a request is what any gateway pays before its features.
 */
export async function startMinimalGateway(upstream: string, logger: Logger): Promise<{ url: string; server: Server }> {
  // No undici timers, as Switchyard's pools have none (its own time the request).
  const pool = new Pool(upstream, { connections: null, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const tenants = new Map([[createHash('sha256').update('sk-bench').digest('hex'), 'bench']]);
  const registry = new Registry();
  const requests = new Counter({ name: 'requests_total', help: 'requests', labelNames: ['route', 'endpoint', 'status'], registers: [registry] });
  const ttft = new Histogram({ name: 'ttft_seconds', help: 'time to first token', labelNames: ['route', 'endpoint'], registers: [registry] });
  const chatRequest = z.object({
    model: z.string(),
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })).min(1),
    max_tokens: z.number().int().positive().optional(),
    stream: z.boolean().optional(),
  });
  const server = createServer((req, res) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const tenant = tenants.get(createHash('sha256').update(key).digest('hex'));
      if (tenant === undefined) {
        res.writeHead(401).end();
        return;
      }
      let parsed: z.infer<typeof chatRequest>;
      try {
        parsed = chatRequest.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const requestId = randomUUID();
      const decoder = new TextDecoder();
      let pending = '';
      let text = '';
      let finishReason: string | null = null;
      let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
      let first = true;
      const line = (raw: string): void => {
        if (!raw.startsWith('data: ') || raw === 'data: [DONE]') return;
        // Read as unknown, field by field: an upstream's chunk is not trusted either.
        const chunk = JSON.parse(raw.slice(6)) as { choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[]; usage?: { prompt_tokens: number; completion_tokens: number } | null };
        const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
        if (typeof choice?.delta?.content === 'string' && choice.delta.content !== '') {
          if (first) {
            first = false;
            ttft.observe({ route: parsed.model, endpoint: 'mock' }, (performance.now() - started) / 1e3);
          }
          text += choice.delta.content;
        }
        if (typeof choice?.finish_reason === 'string') finishReason = choice.finish_reason;
        if (typeof chunk.usage?.prompt_tokens === 'number' && typeof chunk.usage.completion_tokens === 'number') usage = chunk.usage;
      };
      const handler: Dispatcher.DispatchHandler = {
        onConnect: () => undefined,
        onError: () => {
          if (!res.headersSent) res.writeHead(502).end();
        },
        onHeaders: () => true,
        onData: (data: Buffer) => {
          pending += decoder.decode(data, { stream: true });
          for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
            line(pending.slice(0, end));
            pending = pending.slice(end + 1);
          }
          return true;
        },
        onComplete: () => {
          const answer = JSON.stringify({ id: `chatcmpl-${requestId}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: parsed.model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason }], usage });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(answer)), 'x-request-id': requestId, 'x-ratelimit-remaining-requests': '1000000' });
          res.end(answer);
          requests.inc({ route: parsed.model, endpoint: 'mock', status: '200' });
          logger.info({ requestId, tenant, route: parsed.model, endpoint: 'mock', status: 200, inputTokens: usage?.prompt_tokens, outputTokens: usage?.completion_tokens, ms: performance.now() - started }, 'request');
        },
      };
      const body = JSON.stringify({ model: 'mock', messages: parsed.messages, max_tokens: parsed.max_tokens, stream: true, stream_options: { include_usage: true } });
      pool.dispatch({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body }, handler);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
