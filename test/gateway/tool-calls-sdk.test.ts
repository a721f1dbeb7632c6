import Anthropic from '@anthropic-ai/sdk';
import { betaTool } from '@anthropic-ai/sdk/helpers/beta/json-schema';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBothDialects, type BothDialects } from './helpers/fleet.js';

/**
 * Tool calling end to end with the official SDKs, through an emulated replica spoken to in the
 * other dialect: an OpenAI client over an Anthropic-dialect upstream and an Anthropic client over an
 * OpenAI-dialect one, whole and streamed, and a whole agent turn (call, result, answer).
 */

const apiKey = 'sk-tool-sdk';
let fleet: BothDialects;
let url: string;

beforeAll(async () => {
  fleet = await startBothDialects('m-tools', apiKey);
  url = fleet.url;
});

afterAll(() => fleet.close());

const weatherSchema = { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'] };
const question = 'What is the weather in Paris?';

describe('an OpenAI client that sends tool history without tools (an agent handoff)', () => {
  it('is answered in text by either upstream dialect, as OpenAI answers it', async () => {
    // What the OpenAI Agents SDK sends after a handoff to an agent without tools of its own.
    const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You answer in Spanish.' },
      { role: 'user', content: 'Hola' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_9c50', type: 'function', function: { name: 'transfer_to_Spanish', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_9c50', content: '{"assistant":"Spanish"}' },
    ];
    for (const model of ['openai-upstream', 'anthropic-upstream']) {
      const answer = await client.chat.completions.create({ model, max_tokens: 60, messages });
      expect(answer.choices[0]?.finish_reason).toMatch(/^(stop|length)$/);
      expect(answer.choices[0]?.message.content).not.toBe('');
      expect(answer.choices[0]?.message.tool_calls ?? []).toEqual([]);
    }
  });
});

describe('an OpenAI client over an Anthropic-dialect upstream', () => {
  const client = (): OpenAI => new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'The weather now', parameters: weatherSchema } }];

  it('gets a tool call whole and streamed, the same call both ways, with arguments that follow the schema', async () => {
    const whole = await client().chat.completions.create({ model: 'anthropic-upstream', max_tokens: 200, messages: [{ role: 'user', content: question }], tools });
    const choice = whole.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('no function call');
    expect(call.function.name).toBe('get_weather');
    expect(call.id).toMatch(/^[A-Za-z0-9_-]+$/);
    const input = JSON.parse(call.function.arguments) as { city?: unknown; unit?: unknown };
    expect(typeof input.city).toBe('string');
    expect(input.unit).toBe('celsius');
    expect(whole.usage?.completion_tokens).toBeGreaterThan(0);

    const streamed = await client().chat.completions.stream({ model: 'anthropic-upstream', max_tokens: 200, messages: [{ role: 'user', content: question }], tools }).finalChatCompletion();
    expect(streamed.choices[0]?.finish_reason).toBe('tool_calls');
    expect(streamed.choices[0]?.message.tool_calls).toEqual(choice?.message.tool_calls);
  });

  it('sends the result back and gets the answer in text', async () => {
    const first = await client().chat.completions.create({ model: 'anthropic-upstream', max_tokens: 200, messages: [{ role: 'user', content: question }], tools });
    const assistant = first.choices[0]?.message;
    const call = assistant?.tool_calls?.[0];
    if (assistant === undefined || call === undefined) throw new Error('no tool call');
    const answer = await client().chat.completions.create({
      model: 'anthropic-upstream',
      max_tokens: 50,
      tools,
      messages: [{ role: 'user', content: question }, assistant, { role: 'tool', tool_call_id: call.id, content: '18 degrees, light rain' }],
    });
    expect(answer.choices[0]?.finish_reason).toMatch(/^(stop|length)$/);
    expect(answer.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(answer.choices[0]?.message.tool_calls ?? []).toEqual([]);
  });

  it('a tool result that answers no call is refused with a 400 naming the message', async () => {
    const refused = await client()
      .chat.completions.create({ model: 'anthropic-upstream', max_tokens: 50, tools, messages: [{ role: 'user', content: question }, { role: 'tool', tool_call_id: 'call_nowhere', content: '18 degrees' }] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/messages\.1: .*call_nowhere/);
  });
});

describe('an Anthropic client over an OpenAI-dialect upstream', () => {
  const client = (): Anthropic => new Anthropic({ apiKey, baseURL: url, maxRetries: 0 });
  const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'The weather now', input_schema: weatherSchema as Anthropic.Tool.InputSchema }];

  it('gets a tool_use block whole and streamed, the same both ways', async () => {
    const whole = await client().messages.create({ model: 'openai-upstream', max_tokens: 200, messages: [{ role: 'user', content: question }], tools });
    expect(whole.stop_reason).toBe('tool_use');
    const block = whole.content.find((item) => item.type === 'tool_use');
    if (block?.type !== 'tool_use') throw new Error('no tool_use block');
    expect(block.name).toBe('get_weather');
    expect(block.input).toMatchObject({ city: expect.any(String), unit: 'celsius' });

    const streamed = await client().messages.stream({ model: 'openai-upstream', max_tokens: 200, messages: [{ role: 'user', content: question }], tools }).finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content).toEqual(whole.content);
  });

  it('sends the tool_result back and gets the answer in text', async () => {
    const first = await client().messages.create({ model: 'openai-upstream', max_tokens: 200, messages: [{ role: 'user', content: question }], tools });
    const block = first.content.find((item) => item.type === 'tool_use');
    if (block?.type !== 'tool_use') throw new Error('no tool_use block');
    const answer = await client().messages.create({
      model: 'openai-upstream',
      max_tokens: 50,
      tools,
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: block.id, content: '18 degrees, light rain' }] },
      ],
    });
    expect(answer.stop_reason).toMatch(/^(end_turn|max_tokens)$/);
    expect(answer.content[0]?.type).toBe('text');
  });

  it("the SDK's tool runner runs a whole agent loop: its message thread is refused with the error code that makes it send the conversation instead", async () => {
    const calls: unknown[] = [];
    const weather = betaTool({
      name: 'get_weather',
      description: 'The weather now',
      inputSchema: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'] },
      run: (input) => {
        calls.push(input);
        return '18 degrees, light rain';
      },
    });
    const final = await client().beta.messages.toolRunner({ model: 'openai-upstream', max_tokens: 60, max_iterations: 4, messages: [{ role: 'user', content: question }], tools: [weather] });
    // The runner called the tool once (a question, then results: the emulator answers in text).
    expect(calls).toEqual([{ city: expect.any(String), unit: 'celsius' }]);
    expect(final.stop_reason).toMatch(/^(end_turn|max_tokens)$/);
    expect(final.content[0]?.type).toBe('text');
  });

  it('a message thread sent by hand is refused, never dropped (its continuation would lose the conversation)', async () => {
    const response = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai-upstream', max_tokens: 20, thread: { type: 'continue', previous_message_id: 'msg_1' }, messages: [{ role: 'user', content: 'and then?' }] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(/^thread: message threads/), details: { error_code: 'thread_unsupported_request' } } });
  });

  it('a forced tool choice of a tool not offered is refused with a 400 naming tool_choice', async () => {
    const refused = await client()
      .messages.create({ model: 'openai-upstream', max_tokens: 50, tools, tool_choice: { type: 'tool', name: 'get_time' }, messages: [{ role: 'user', content: question }] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as InstanceType<typeof Anthropic.BadRequestError>).message).toMatch(/tool_choice: .*get_time.*not among the tools offered/);
  });
});
