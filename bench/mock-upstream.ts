import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dialects } from '../src/protocol/dialects.js';
import type { Dialect } from '../src/protocol/dialect.js';

/**
 * An instant upstream for benchmarks and gateway tests: answers both dialects
 * at once with a fixed text, streamed or not. No model timing at all, so what
 * a benchmark measures in front of it is the proxy alone. With
 * `tokenIntervalMs`, streams instead send one token per interval, forever,
 * until the client goes away (for holding many streams open).
 */
export interface MockUpstream {
  readonly url: string;
  /** Requests received, by path. */
  readonly received: Map<string, number>;
  close(): Promise<void>;
}

export async function startMockUpstream(options: { words?: number; port?: number; tokenIntervalMs?: number } = {}): Promise<MockUpstream> {
  const words = options.words ?? 8;
  const tokens = Array.from({ length: words }, (_, i) => (i === 0 ? 'mock' : ' token'));
  const received = new Map<string, number>();
  // Answers are rendered once: an instant upstream should cost as little CPU as possible,
  // since it shares the machine with the gateway being measured.
  const bodies = new Map<Dialect['name'], string>();
  const streams = new Map<Dialect['name'], string>();
  for (const dialect of Object.values(dialects)) {
    bodies.set(dialect.name, JSON.stringify(dialect.formatResult({ id: 'mock-1', model: 'mock', text: tokens.join(''), finishReason: 'stop', usage: { inputTokens: 10, outputTokens: words } }, 0)));
    const writer = dialect.createStreamWriter({ includeUsage: true, created: 0 });
    let frames = writer.write({ type: 'start', id: 'mock-1', model: 'mock', inputTokens: 10 });
    for (const text of tokens) frames += writer.write({ type: 'text', text });
    frames += writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 10, outputTokens: words } });
    streams.set(dialect.name, frames);
  }
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    received.set(path, (received.get(path) ?? 0) + 1);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const dialect = path.endsWith('/v1/messages') ? dialects.anthropic : dialects.openai;
      let stream = false;
      try {
        stream = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean }).stream === true;
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (!stream) {
        const body = bodies.get(dialect.name) ?? '';
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (options.tokenIntervalMs !== undefined) {
        const writer = dialect.createStreamWriter({ includeUsage: true, created: 0 });
        res.write(writer.write({ type: 'start', id: 'mock-1', model: 'mock', inputTokens: 10 }));
        const timer = setInterval(() => res.write(writer.write({ type: 'text', text: ' token' })), options.tokenIntervalMs);
        res.on('close', () => clearInterval(timer));
        return;
      }
      res.end(streams.get(dialect.name) ?? '');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
