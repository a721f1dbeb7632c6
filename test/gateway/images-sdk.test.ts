import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { imageTokenEstimate, pdfPageTokenEstimate } from '../../src/protocol/chat.js';
import { cheapestFirstConfig, startBothDialects, startTestEmulator, type BothDialects } from './helpers/fleet.js';

/**
 * Images end to end with the official SDKs, through an emulated replica spoken to in each dialect:
 * OpenAI image_url parts (a data URL and a web URL) and Anthropic image blocks (base64 and url),
 * whole and streamed, counted in usage as the estimate the gateway routes with.
 */

const apiKey = 'sk-images-sdk';
let fleet: BothDialects;

beforeAll(async () => {
  fleet = await startBothDialects('m-vision', apiKey);
});

afterAll(() => fleet.close());

const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const upstreams = ['openai-upstream', 'anthropic-upstream'] as const;

describe('an OpenAI client showing images', () => {
  const client = (): OpenAI => new OpenAI({ apiKey, baseURL: `${fleet.url}/v1`, maxRetries: 0 });
  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these two?' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'low' } },
      ],
    },
  ];

  for (const model of upstreams) {
    it(`gets an answer over ${model}, whole and streamed alike, the images counted in its prompt tokens`, async () => {
      const whole = await client().chat.completions.create({ model, max_tokens: 20, messages });
      expect(whole.choices[0]?.message.content).toMatch(/\w/);
      expect(whole.usage?.prompt_tokens).toBeGreaterThanOrEqual(2 * imageTokenEstimate);
      expect(whole.usage?.prompt_tokens).toBeLessThan(2 * imageTokenEstimate + 50);
      const streamed = await client().chat.completions.stream({ model, max_tokens: 20, messages }).finalChatCompletion();
      expect(streamed.choices[0]?.message.content).toBe(whole.choices[0]?.message.content);
    });
  }

  it('gets a 400 naming the part for an image of a type it cannot carry', async () => {
    const bad = await client()
      .chat.completions.create({ model: 'openai-upstream', max_tokens: 20, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }] }] })
      .catch((error: unknown) => error);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('messages.0.content.0.image_url.url');
  });
});

describe('an Anthropic client showing images', () => {
  const client = (): Anthropic => new Anthropic({ apiKey, baseURL: fleet.url, maxRetries: 0 });
  const messages: Anthropic.MessageParam[] = [
    {
      role: 'user',
      content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        { type: 'text', text: 'What is in these two?' },
      ],
    },
  ];

  for (const model of upstreams) {
    it(`gets an answer over ${model}, whole and streamed alike, the images counted in its input tokens`, async () => {
      const whole = await client().messages.create({ model, max_tokens: 20, messages });
      const text = whole.content[0]?.type === 'text' ? whole.content[0].text : '';
      expect(text).toMatch(/\w/);
      expect(whole.usage.input_tokens).toBeGreaterThanOrEqual(2 * imageTokenEstimate);
      const streamed = await client().messages.stream({ model, max_tokens: 20, messages }).finalMessage();
      expect(streamed.content).toEqual(whole.content);
    });
  }
});

describe('an Anthropic client whose tool returned an image (a screenshot, a file read)', () => {
  const client = (): Anthropic => new Anthropic({ apiKey, baseURL: fleet.url, maxRetries: 0 });
  const tools: Anthropic.Tool[] = [{ name: 'read_file', description: 'Reads a file', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }];
  const messages: Anthropic.MessageParam[] = [
    { role: 'user', content: 'What is in chart.png?' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_read', name: 'read_file', input: { path: 'chart.png' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_read', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }] }] },
  ];

  for (const model of upstreams) {
    it(`gets an answer over ${model}, the image counted in its input tokens, and the conversation goes on`, async () => {
      const answer = await client().messages.create({ model, max_tokens: 20, tools, tool_choice: { type: 'none' }, messages });
      expect(answer.content[0]?.type).toBe('text');
      expect(answer.usage.input_tokens).toBeGreaterThanOrEqual(imageTokenEstimate);
      // Every later request sends the image again: it must keep being taken.
      const next = await client().messages.create({ model, max_tokens: 20, tools, tool_choice: { type: 'none' }, messages: [...messages, { role: 'assistant', content: answer.content }, { role: 'user', content: 'And now?' }] });
      expect(next.content[0]?.type).toBe('text');
    });
  }
});

describe('an Anthropic client showing a PDF (as Claude Code reads one)', () => {
  const pdf = Buffer.from('%PDF-1.4\n1 0 obj <</Type /Page>> endobj\n2 0 obj <</Type /Page>> endobj\n3 0 obj <</Type /Page>> endobj\n%%EOF\n').toString('base64');
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf }, title: 'plan.pdf' }, { type: 'text', text: 'Summarise it.' }] }];

  it('is answered over an Anthropic-dialect upstream, its pages counted in the input tokens; the count API counts them too', async () => {
    const client = new Anthropic({ apiKey, baseURL: fleet.url, maxRetries: 0 });
    const answer = await client.messages.create({ model: 'anthropic-upstream', max_tokens: 20, messages });
    expect(answer.content[0]?.type).toBe('text');
    expect(answer.usage.input_tokens).toBeGreaterThanOrEqual(3 * pdfPageTokenEstimate);
    expect((await client.messages.countTokens({ model: 'anthropic-upstream', messages })).input_tokens).toBe(answer.usage.input_tokens);
  });

  it('is refused with a 400 where no endpoint reads PDFs (OpenAI-dialect ones, unless marked pdfs: true), and served where one is', async () => {
    const client = new Anthropic({ apiKey, baseURL: fleet.url, maxRetries: 0 });
    await expect(client.messages.create({ model: 'openai-upstream', max_tokens: 20, messages })).rejects.toMatchObject({ status: 400, error: { error: { message: expect.stringContaining('reads PDF documents (Anthropic-dialect endpoints, and others marked pdfs: true)') } } });
    const replica = await startTestEmulator({ servedModelName: 'm' });
    const gateway = createGateway({ config: cheapestFirstConfig([[replica.url, 'openai']], apiKey, '{}', ', pdfs: true'), logger: false });
    try {
      const reading = new Anthropic({ apiKey, baseURL: await gateway.listen(0, '127.0.0.1'), maxRetries: 0 });
      const answer = await reading.messages.create({ model: 'm', max_tokens: 20, messages });
      expect(answer.usage.input_tokens).toBeGreaterThanOrEqual(3 * pdfPageTokenEstimate);
    } finally {
      await gateway.close();
      await replica.close();
    }
  });
});

it('an endpoint marked images: false is passed over for a request with images, which gets a 400 where none other serves', async () => {
  const replica = await startTestEmulator({ servedModelName: 'm' });
  const config = cheapestFirstConfig([[replica.url, 'openai']], apiKey, '{ retries: 0 }', ', images: false');
  const gateway = createGateway({ config, logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  try {
    const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const refused = await client.chat.completions.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } }] }] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toMatch(/reads images/);
    const served = await client.chat.completions.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(served.choices[0]?.message.content).toMatch(/\w/);
  } finally {
    await gateway.close();
    await replica.close();
  }
});
