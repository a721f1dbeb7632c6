import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, openAIChunk, startScriptedUpstream } from './helpers/fleet.js';

// An endpoint's configured headers go on every call to it (an Anthropic beta, a project id), and
// never replace what the gateway writes itself.

const apiKey = 'sk-endpoint-headers';
const { cleanups } = closedAfterEach();

describe("an endpoint's headers", () => {
  it('reach its upstream on every call, beside the headers the gateway writes', async () => {
    const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'ok' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => upstream.close());
    const config = cheapestFirstConfig([[upstream.url, 'openai']], apiKey, '{ retries: 0 }', ', headers: { anthropic-beta: "context-1m-2025-08-07", X-Project: proj_Kd9sdf8sdfHJK3kjh1234 }');
    const gateway = createGateway({ config, logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    for (let call = 0; call < 2; call++) {
      const answer = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-request-id': `call-${String(call)}` }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
      expect(answer.status).toBe(200);
    }
    expect(upstream.headers).toHaveLength(2);
    for (const [call, headers] of upstream.headers.entries()) {
      expect(headers).toMatchObject({ 'anthropic-beta': 'context-1m-2025-08-07', 'x-project': 'proj_Kd9sdf8sdfHJK3kjh1234', 'content-type': 'application/json', 'x-request-id': expect.stringMatching(new RegExp(`^call-${String(call)}-\\d+$`)) });
    }
  });
});
