import { describe, expect, it } from 'vitest';
import { readContentDelta } from '../../src/protocol/openai/openai-content-delta.js';
import { seededRandom, type Random } from '../../src/random/seeded-random.js';

/** What a full JSON.parse says the chunk's content delta is, when the chunk is exactly a plain content delta. */
function referenceContent(data: string): string | undefined {
  let chunk: Record<string, unknown>;
  try {
    chunk = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const choices = chunk.choices as { delta?: Record<string, unknown>; finish_reason?: unknown; index?: unknown }[] | undefined;
  const choice = choices?.[0];
  if (choices?.length !== 1 || choice === undefined || choice.finish_reason !== null || choice.index !== 0) return undefined;
  if (chunk.usage !== undefined && chunk.usage !== null) return undefined;
  const delta = choice.delta ?? {};
  if (Object.keys(delta).length !== 1 || typeof delta.content !== 'string') return undefined;
  return delta.content;
}

const pieces = ['a', ' token', 'é', '日本', '😀', '"', '\\', '\n', '\t', '\u0001', '\u2028', '/', '{"x":1}', '\\u0041', '"content":"'];

function randomText(random: Random): string {
  let text = '';
  const length = Math.floor(random() * 6);
  for (let i = 0; i < length; i += 1) text += pieces[Math.floor(random() * pieces.length)] ?? '';
  return text;
}

/** Chunks in the plain layout and in many near misses, some of them invalid JSON. */
function randomChunk(random: Random): string {
  const content = JSON.stringify(randomText(random));
  const fingerprint = random() < 0.3 ? '"system_fingerprint":"fp_1",' : random() < 0.2 ? '"system_fingerprint":null,' : '';
  const usage = random() < 0.3 ? ',"usage":null' : random() < 0.1 ? ',"usage":{"prompt_tokens":1,"completion_tokens":2}' : '';
  const finish = random() < 0.8 ? 'null' : '"stop"';
  const delta = random() < 0.85 ? `{"content":${content}}` : random() < 0.5 ? `{"role":"assistant","content":${content}}` : '{}';
  const id = random() < 0.9 ? 'chatcmpl-1' : 'odd\\"id';
  let chunk = `{"id":"${id}","object":"chat.completion.chunk","created":${random() < 0.9 ? 1732250000 : -1},"model":"m",${fingerprint}"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]${usage}}`;
  const mutation = random();
  if (mutation < 0.05) chunk = chunk.replace('"content":"', '"content":"\\x'); // invalid escape
  else if (mutation < 0.1) chunk = chunk.replace('"content":"', '"content":"\u0002'); // raw control character
  else if (mutation < 0.13) chunk = chunk.slice(0, -1); // truncated
  else if (mutation < 0.16) chunk = `${chunk} `; // trailing space: valid JSON, another layout
  return chunk;
}

describe('readContentDelta (the fast path for OpenAI content chunks)', () => {
  it('reads the common layouts of OpenAI, vLLM and our own writer', () => {
    expect(readContentDelta('{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" hi"},"logprobs":null,"finish_reason":null}]}')).toBe(' hi');
    expect(readContentDelta('{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp_4","choices":[{"index":0,"delta":{"content":"a\\"b\\u00e9"},"logprobs":null,"finish_reason":null}],"usage":null}')).toBe('a"bé');
  });

  it('over 20,000 seeded random chunks, agrees with JSON.parse whenever it answers, and answers for every valid plain chunk', () => {
    const random = seededRandom(20261122);
    let answered = 0;
    for (let i = 0; i < 20_000; i += 1) {
      const chunk = randomChunk(random);
      const fast = readContentDelta(chunk);
      const reference = referenceContent(chunk);
      if (fast !== undefined) {
        answered += 1;
        expect(fast, chunk).toBe(reference);
      } else if (reference !== undefined && !chunk.endsWith(' ') && !chunk.includes('odd') && !chunk.includes('"created":-1') && !chunk.includes('"role"')) {
        throw new Error(`a plain content chunk took the slow path: ${chunk}`);
      }
    }
    expect(answered).toBeGreaterThan(5_000);
  });
});
