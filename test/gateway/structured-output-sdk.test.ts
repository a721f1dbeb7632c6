import Anthropic from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import OpenAI from 'openai';
import { LengthFinishReasonError } from 'openai/error';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startBothDialects, type BothDialects } from './helpers/fleet.js';

/**
 * Structured output end to end with the official SDKs' parse helpers, through an emulated replica
 * spoken to in each dialect: OpenAI's `chat.completions.parse` with `zodResponseFormat` and strict
 * `zodFunction` tools, Anthropic's `messages.parse` and `messages.stream` with `zodOutputFormat`.
 */

const apiKey = 'sk-structured-sdk';
let fleet: BothDialects;

beforeAll(async () => {
  fleet = await startBothDialects('m-json', apiKey);
});

afterAll(() => fleet.close());

const Weather = z.object({ city: z.string(), celsius: z.number().int().min(-50).max(50), raining: z.boolean(), unit: z.enum(['celsius', 'fahrenheit']) });
const upstreams = ['openai-upstream', 'anthropic-upstream'] as const;

describe('an OpenAI client', () => {
  const client = (): OpenAI => new OpenAI({ apiKey, baseURL: `${fleet.url}/v1`, maxRetries: 0 });

  for (const model of upstreams) {
    it(`parses a schema-following answer over ${model}, whole and streamed alike`, async () => {
      const request = { model, max_tokens: 300, messages: [{ role: 'user' as const, content: 'The weather in Paris, please.' }], response_format: zodResponseFormat(Weather, 'weather') };
      const whole = await client().chat.completions.parse(request);
      const message = whole.choices[0]?.message;
      expect(whole.choices[0]?.finish_reason).toBe('stop');
      expect(Weather.parse(message?.parsed)).toEqual(message?.parsed);
      expect(message?.parsed?.unit).toBe('celsius');
      expect(JSON.parse(message?.content ?? '')).toEqual(message?.parsed);

      const streamed = await client().chat.completions.stream(request).finalChatCompletion();
      expect(streamed.choices[0]?.message.parsed).toEqual(message?.parsed);
    });

    it(`calls a strict zodFunction tool over ${model} and parses its arguments`, async () => {
      const completion = await client().chat.completions.parse({
        model,
        max_tokens: 300,
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        tools: [zodFunction({ name: 'get_weather', parameters: z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) }) })],
        tool_choice: 'required',
      });
      const call = completion.choices[0]?.message.tool_calls?.[0];
      if (call?.type !== 'function') throw new Error('no function call');
      expect(call.function.name).toBe('get_weather');
      expect(call.function.parsed_arguments).toEqual({ city: expect.any(String), unit: 'celsius' });
    });
  }

  it('gets an answer max_tokens cut as the SDK tells one (LengthFinishReasonError), never parsed', async () => {
    const request = { model: 'anthropic-upstream', max_tokens: 3, messages: [{ role: 'user' as const, content: 'The weather in Paris, please.' }], response_format: zodResponseFormat(Weather, 'weather') };
    await expect(client().chat.completions.parse(request)).rejects.toBeInstanceOf(LengthFinishReasonError);
  });

  it('gets JSON mode answers over an OpenAI-dialect upstream, and a 400 naming response_format where only Anthropic-dialect endpoints serve', async () => {
    const messages = [{ role: 'user' as const, content: 'Answer in JSON.' }];
    const answer = await client().chat.completions.create({ model: 'openai-upstream', max_tokens: 300, messages, response_format: { type: 'json_object' } });
    const parsed = JSON.parse(answer.choices[0]?.message.content ?? '') as { answer?: unknown };
    expect(typeof parsed.answer).toBe('string');

    const refused = await client()
      .chat.completions.create({ model: 'anthropic-upstream', max_tokens: 300, messages, response_format: { type: 'json_object' } })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('response_format');
    expect((refused as Error).message).toMatch(/JSON mode/);
  });
});

/** Anthropic's helper moves numeric bounds into the description (its API takes none), which the emulator does not read. */
const AnthropicWeather = z.object({ city: z.string(), celsius: z.number().int(), raining: z.boolean(), unit: z.enum(['celsius', 'fahrenheit']) });

describe('an Anthropic client', () => {
  const client = (): Anthropic => new Anthropic({ apiKey, baseURL: fleet.url, maxRetries: 0 });

  for (const model of upstreams) {
    it(`parses a schema-following answer over ${model}, whole and streamed alike`, async () => {
      const request = { model, max_tokens: 300, messages: [{ role: 'user' as const, content: 'The weather in Paris, please.' }], output_config: { format: zodOutputFormat(AnthropicWeather) } };
      const whole = await client().messages.parse(request);
      expect(whole.stop_reason).toBe('end_turn');
      expect(AnthropicWeather.parse(whole.parsed_output)).toEqual(whole.parsed_output);
      expect(whole.parsed_output?.unit).toBe('celsius');

      const streamed = await client().messages.stream(request).finalMessage();
      expect(streamed.parsed_output).toEqual(whole.parsed_output);
    });
  }

  it('gets JSON that stops short (max_tokens) as such, not as a parsed answer', async () => {
    const request = { model: 'openai-upstream', max_tokens: 3, messages: [{ role: 'user' as const, content: 'The weather in Paris, please.' }], output_config: { format: zodOutputFormat(AnthropicWeather) } };
    const cut = await client().messages.create(request);
    expect(cut.stop_reason).toBe('max_tokens');
    expect(cut.content).toEqual([{ type: 'text', text: expect.stringMatching(/^\{"city":"/) }]);
    expect(cut.usage.output_tokens).toBe(3);
    // The SDK's parse fails on the cut JSON: it never reads as a whole answer.
    await expect(client().messages.parse(request)).rejects.toThrow(/Failed to parse structured output/);
  });
});
