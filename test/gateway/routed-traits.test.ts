import { describe, expect, it } from 'vitest';
import type { ChatRequest, ContentPart } from '../../src/protocol/chat.js';
import type { TenantConfig } from '../../src/gateway/gateway-config.js';
import { routedTraits } from '../../src/gateway/routed-traits.js';

const tenant: TenantConfig = { id: 't', apiKeySha256: 'a'.repeat(64), jurisdictions: ['us', 'eu'], requestsPerMinute: 10, tokensPerMinute: 10_000 };
const plain: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'continue' };
const withParts = (...parts: ContentPart[]): ChatRequest => ({ ...plain, messages: [{ role: 'user', content: 'look', parts: [{ type: 'text', text: 'look' }, ...parts] }] });
const strictTool = { name: 'f', description: 'd', parameters: { type: 'object' }, strict: true };

describe('routedTraits: what routing reads of a request, the same on every attempt', () => {
  it('a plain request asks only for its model in the tenant\'s jurisdictions; the header and geography narrow', () => {
    expect(routedTraits(plain, tenant, undefined)).toEqual({ model: 'm', tenantJurisdictions: ['us', 'eu'] });
    expect(routedTraits({ ...plain, geography: 'eu' }, tenant, ['eu'])).toEqual({ model: 'm', tenantJurisdictions: ['us', 'eu'], headerJurisdictions: ['eu'], requestedGeography: 'eu' });
  });

  it('structured output: a response format, or strict tools the model may call (not under tool choice none)', () => {
    expect(routedTraits({ ...plain, responseFormat: { type: 'json_object' } }, tenant, undefined)).toMatchObject({ structuredOutput: 'json_object' });
    expect(routedTraits({ ...plain, tools: [strictTool] } as ChatRequest, tenant, undefined)).toMatchObject({ structuredOutput: 'strict_tools' });
    expect(routedTraits({ ...plain, tools: [strictTool], toolChoice: { type: 'none' } } as ChatRequest, tenant, undefined)).not.toHaveProperty('structuredOutput');
  });

  it("where a schema opens an object to properties it does not list (a map, any object): a response format's, or a strict tool's; not an object with properties that leaves additionalProperties out", () => {
    const schema = (tags: object): Record<string, unknown> => ({ type: 'object', properties: { name: { type: 'string' }, tags }, required: ['name', 'tags'] });
    const format = (tags: object): ChatRequest => ({ ...plain, responseFormat: { type: 'json_schema', name: 'r', schema: schema(tags), strict: false } });
    expect(routedTraits(format({ type: 'object', additionalProperties: { type: 'string' } }), tenant, undefined)).toMatchObject({ structuredOutput: 'json_schema', openObject: { place: "the response format's schema at properties.tags", param: 'response_format' } });
    expect(routedTraits(format({ type: 'array', items: { type: 'object', additionalProperties: true } }), tenant, undefined)).toMatchObject({ openObject: { place: "the response format's schema at properties.tags.items" } });
    // An object of no properties at all is any object (R42), but for a tool's parameters, a tool without arguments.
    expect(routedTraits(format({ type: 'object' }), tenant, undefined)).toMatchObject({ openObject: { place: "the response format's schema at properties.tags" } });
    expect(routedTraits(format({ type: 'object', properties: {} }), tenant, undefined)).not.toHaveProperty('openObject');
    expect(routedTraits(format({ type: 'object', allOf: [{ properties: { a: { type: 'string' } } }] }), tenant, undefined)).not.toHaveProperty('openObject');
    // Closed another way, or a constraint in an allOf of an object others describe (R43).
    for (const closed of [{ type: 'object', unevaluatedProperties: false }, { type: 'object', maxProperties: 0 }, { allOf: [{ type: 'object' }, { properties: { a: { type: 'string' } }, additionalProperties: false }] }]) {
      expect(routedTraits(format(closed), tenant, undefined)).not.toHaveProperty('openObject');
    }
    expect(routedTraits({ ...plain, tools: [strictTool] } as ChatRequest, tenant, undefined)).not.toHaveProperty('openObject');
    expect(routedTraits({ ...plain, tools: [{ ...strictTool, parameters: { type: 'object', properties: { options: { type: 'object' } } } }] } as ChatRequest, tenant, undefined)).toMatchObject({ openObject: { place: "tool f's parameters at properties.options" } });
    expect(routedTraits(format({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }), tenant, undefined)).not.toHaveProperty('openObject');
    const mapTool = { ...strictTool, name: 'tag', parameters: { type: 'object', additionalProperties: { type: 'number' } } };
    expect(routedTraits({ ...plain, tools: [strictTool, mapTool] } as ChatRequest, tenant, undefined)).toMatchObject({ structuredOutput: 'strict_tools', openObject: { place: "tool tag's parameters at (the schema itself)", param: 'tools' } });
    // A tool that is not strict is sent as it is: nothing closes it.
    expect(routedTraits({ ...plain, tools: [strictTool, { ...mapTool, strict: false }] } as ChatRequest, tenant, undefined)).not.toHaveProperty('openObject');
    // A map written with patternProperties or unevaluatedProperties (R40).
    expect(routedTraits(format({ type: 'object', patternProperties: { '^[a-z]+$': { type: 'string' } } }), tenant, undefined)).toMatchObject({ openObject: { place: "the response format's schema at properties.tags" } });
    expect(routedTraits(format({ type: 'object', properties: { a: { type: 'string' } }, unevaluatedProperties: { type: 'number' } }), tenant, undefined)).toMatchObject({ openObject: { place: "the response format's schema at properties.tags" } });
    expect(routedTraits(format({ type: 'object', patternProperties: {}, additionalProperties: false }), tenant, undefined)).not.toHaveProperty('openObject');
    // Without a type of its own, beside allOf (R41).
    expect(routedTraits(format({ allOf: [{ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }], unevaluatedProperties: { type: 'string' } }), tenant, undefined)).toMatchObject({ openObject: { place: "the response format's schema at properties.tags" } });
    // A strict tool's map beside a closed response format (R40: the format was read alone).
    const closedFormat = format({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false });
    expect(routedTraits({ ...closedFormat, tools: [mapTool] } as ChatRequest, tenant, undefined)).toMatchObject({ structuredOutput: 'json_schema', openObject: { place: "tool tag's parameters at (the schema itself)", param: 'tools' } });
    expect(routedTraits({ ...closedFormat, tools: [mapTool], toolChoice: { type: 'none' } } as ChatRequest, tenant, undefined)).not.toHaveProperty('openObject');
  });

  it('images by where they come from (a local URL wins over public ones), PDFs, and thinking that must be given', () => {
    expect(routedTraits(withParts({ type: 'image', source: { type: 'base64', mediaType: 'image/png', data: 'AA==' } }), tenant, undefined)).toMatchObject({ hasImages: true });
    expect(routedTraits(withParts({ type: 'image', source: { type: 'base64', mediaType: 'image/png', data: 'AA==' } }), tenant, undefined)).not.toHaveProperty('imageUrls');
    expect(routedTraits(withParts({ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }), tenant, undefined)).toMatchObject({ hasImages: true, imageUrls: 'public' });
    expect(routedTraits(withParts({ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }, { type: 'image', source: { type: 'url', url: 'http://10.0.0.1/b.png', local: true } }), tenant, undefined)).toMatchObject({ imageUrls: 'local' });
    expect(routedTraits(withParts({ type: 'document', source: { type: 'pdf', data: 'JVBERi0=', pages: 1 } }), tenant, undefined)).toMatchObject({ hasPdfs: true });
    expect(routedTraits({ ...plain, thinking: { type: 'enabled', budgetTokens: 2048 } } as ChatRequest, tenant, undefined)).toMatchObject({ thinking: true });
    expect(routedTraits({ ...plain, thinking: { type: 'adaptive' } } as ChatRequest, tenant, undefined)).not.toHaveProperty('thinking');
  });
});
