import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { closedAfterEach, singleEndpointConfig, startTestEmulator } from './helpers/fleet.js';

// An upstream's own refusal of a request too long for its window reaches the caller in the
// caller's API's words, with its figures, whichever dialect the upstream speaks: Claude Code reads
// Anthropic's to lower max_tokens and retry, LangChain and LiteLLM OpenAI's to tell an overflow.

const apiKey = 'sk-context';
const { cleanups } = closedAfterEach();

/** A gateway that believes its one endpoint's window is huge, in front of an emulator whose window (Llama 3.1 8B's) is 131,072. */
async function gatewayOverEmulator(dialect: 'openai' | 'anthropic'): Promise<string> {
  const replica = await startTestEmulator({ servedModelName: 'm' });
  const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey, '', dialect), logger: false });
  cleanups.push(() => replica.close(), () => gateway.close());
  return gateway.listen(0, '127.0.0.1');
}

describe("an upstream's context-length refusal, in the caller's words", () => {
  it('OpenAI-dialect upstream (vLLM words) to an Anthropic caller: Anthropic words and figures; the retry they allow is served', async () => {
    const client = new Anthropic({ apiKey, baseURL: await gatewayOverEmulator('openai'), maxRetries: 0 });
    const ask = { model: 'm', messages: [{ role: 'user' as const, content: 'Summarise the fleet plan.' }] };
    // An explicit timeout: the SDK refuses a large max_tokens without streaming otherwise.
    const refused = await client.messages.create({ ...ask, max_tokens: 200_000 }, { timeout: 60_000 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    const message = (refused as InstanceType<typeof Anthropic.BadRequestError>).message;
    const figures = /input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+), decrease input length or `max_tokens` and try again \(upstream up failed: This model's maximum context length is 131072 tokens/.exec(message);
    if (figures === null) throw new Error(`not in Anthropic's words: ${message}`);
    const [, input, output, limit] = figures.map(Number) as [number, number, number, number];
    expect([output, limit]).toEqual([200_000, 131_072]);
    const retried = await client.messages.create({ ...ask, max_tokens: limit - input }, { timeout: 60_000 });
    expect(retried.stop_reason).not.toBeNull();
  });

  it("Anthropic-dialect upstream to an OpenAI caller: OpenAI's words and code", async () => {
    const client = new OpenAI({ apiKey, baseURL: `${await gatewayOverEmulator('anthropic')}/v1`, maxRetries: 0 });
    const refused = await client.chat.completions.create({ model: 'm', max_tokens: 200_000, messages: [{ role: 'user', content: 'Summarise the fleet plan.' }] }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'messages', message: expect.stringMatching(/^400 This model's maximum context length is 131072 tokens\. However, you requested \d+ tokens \(\d+ in the messages, 200000 in the completion\)\. Please reduce the length of the messages or completion\. \(upstream up failed: /) });
  });
});
