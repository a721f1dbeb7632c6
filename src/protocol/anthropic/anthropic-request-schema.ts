import { z } from 'zod';
import { minThinkingBudget, maxStopSequenceChars } from '../chat.js';
import { isQuotableName, noTools, otherApiField, readBlocks, unsupportedContent } from '../request-problem.js';
import { answerSchema } from '../answer-schema.js';
import { idPattern } from '../../domain/id-pattern.js';
import { toolCallIdPattern, toolNamePattern, toolNameRule } from '../tool-use.js';

/** A prompt-cache breakpoint, carried back to Anthropic-dialect upstreams (see ChatMessage.cache). */
const cacheControl = z.looseObject({ type: z.literal('ephemeral', { error: "cache_control.type must be 'ephemeral'" }), ttl: z.enum(['5m', '1h']).optional() }).nullish();

export const textBlock = z.looseObject({ type: z.literal('text'), text: z.string(), cache_control: cacheControl });

const systemProblem = unsupportedContent('block', 'system');

// Blocks read one by one, so a bad field of one (its cache_control) is named at its own path.
const systemContent = z.union([z.string(), z.array(z.unknown())], { error: systemProblem }).transform((value, context) => readBlocks(value, context, ['text'], textBlock, systemProblem));

// Blocks are read one by one after the schema (see read-anthropic-request.ts): a union of block types
// would report any bad block as the whole content being of the wrong shape.
const messageContent = z.union([z.string(), z.array(z.unknown())], { error: unsupportedContent('block', 'content', ['text', 'image', 'document']) });

const toolNameProblem = `a tool name is ${toolNameRule}`;

const toolCallIdRule = "a tool call id is 1 to 256 letters, digits, '_' or '-'";

/** An image in a user turn: the image itself (base64) or a URL the upstream fetches. */
export const imageBlock = z.looseObject({
  type: z.literal('image'),
  cache_control: cacheControl,
  source: z.discriminatedUnion(
    'type',
    [
      z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
      z.looseObject({ type: z.literal('url'), url: z.string().regex(/^https?:\/\//i, 'url must be an http(s) URL') }),
    ],
    { error: "an image's source is {\"type\": \"base64\", \"media_type\": ..., \"data\": ...} or {\"type\": \"url\", \"url\": ...} (files uploaded to Anthropic are not supported by Switchyard)" },
  ),
});

/** A document shown to the model: a PDF (base64) or plain text. Citations would change the answer's form, which the gateway cannot carry. */
export const documentBlock = z.looseObject({
  type: z.literal('document'),
  cache_control: cacheControl,
  source: z.discriminatedUnion(
    'type',
    [
      z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
      z.looseObject({ type: z.literal('text'), media_type: z.literal('text/plain', { error: "a text document's media_type is 'text/plain'" }).optional(), data: z.string() }),
    ],
    { error: 'a document\'s source is {"type": "base64", "media_type": "application/pdf", "data": ...} or {"type": "text", "media_type": "text/plain", "data": ...} (URL, content and file sources are not supported by Switchyard)' },
  ),
  title: z.string().nullish(),
  context: z.string().nullish(),
  citations: z.looseObject({ enabled: z.boolean().optional() }).nullish().refine((citations) => citations?.enabled !== true, { error: 'citations are not supported by Switchyard: they change the form of the answer, which it cannot carry to every upstream' }),
});

/** A call the model made, sent back in an assistant turn. */
export const toolUseBlock = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string().regex(toolCallIdPattern, toolCallIdRule),
  name: z.string().regex(toolNamePattern, toolNameProblem),
  input: z.record(z.string(), z.unknown(), { error: 'must be an object: the arguments the tool was called with' }),
  cache_control: cacheControl,
});

/** The model's thinking in an earlier answer, sent back as it came (its signature is checked upstream). */
export const thinkingBlock = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string() }),
  z.looseObject({ type: z.literal('redacted_thinking'), data: z.string() }),
]);

// Passed on as sent: Anthropic adds values (betas), and the gateway reads only 'summarized'.
const thinkingDisplay = z.string().nullish();

/** Extended thinking: a budget of tokens below max_tokens, as the model judges (adaptive), or none. */
const thinkingConfig = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('enabled'), budget_tokens: z.number().int().min(minThinkingBudget, `budget_tokens must be at least ${String(minThinkingBudget)}`), display: thinkingDisplay }),
    z.looseObject({ type: z.literal('adaptive'), display: thinkingDisplay }),
    z.looseObject({ type: z.literal('disabled') }),
  ],
  { error: 'thinking is {"type": "enabled", "budget_tokens": N}, {"type": "adaptive"} or {"type": "disabled"}' },
);

/** A tool's answer to a call, in a user turn. */
export const toolResultBlock = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string().regex(toolCallIdPattern, toolCallIdRule),
  // Blocks are read one by one after the schema (see read-anthropic-request.ts): text, images and documents, as a tool returns them.
  content: z.union([z.string(), z.array(z.unknown())], { error: unsupportedContent('block', 'content', ['text', 'image', 'document']) }).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});

/** The caller's own tool (a "custom" tool); any other `type` is a server tool Anthropic runs itself. */
const toolSchema = z.looseObject({
  // First, so that a server tool (which has no input_schema) is named as one. The SDK's Tool
  // allows `type: null`, which is a custom tool as an absent type is.
  type: z.literal('custom', { error: serverToolRefusal }).nullish(),
  name: z.string().regex(toolNamePattern, toolNameProblem),
  description: z.string().optional(),
  input_schema: z.record(z.string(), z.unknown(), { error: 'is required: a JSON Schema object of the tool\'s input' }).refine((schema) => schema.type === undefined || schema.type === 'object', { error: "a tool's input is an object: input_schema.type must be 'object'", path: ['type'] }),
  // Carried to the upstream, and routed only to endpoints that constrain output (structuredOutputs).
  strict: z.boolean().nullish(),
  cache_control: cacheControl,
  // eager_input_streaming (fine-grained tool streaming) passes unforwarded: a streaming hint that does not change the answer.
  // Two of Anthropic's tool fields would change the answer if dropped (E49): refused unless empty.
  input_examples: z.unknown().refine((examples) => examples === null || (Array.isArray(examples) && examples.length === 0), {
    error: "tool use examples are an Anthropic beta Switchyard does not forward (a caller's anthropic-beta header is not passed on): put the examples in the tool's description",
  }).optional(),
  defer_loading: z.unknown().refine((deferred) => deferred === null || deferred === false, {
    error: "deferred loading is for Anthropic's tool search, a server tool Switchyard does not run: leave defer_loading out, and the tool is loaded with the others",
  }).optional(),
});

/** The form of the answer: JSON matching a schema (structured output). */
const outputFormat = z.looseObject({ type: z.literal('json_schema', { error: "the output format's type must be 'json_schema'" }), schema: answerSchema });

const toolChoiceSchema = z
  .looseObject(
    {
      type: z.enum(['auto', 'any', 'tool', 'none'], { error: ({ input }) => toolChoiceTypeProblem(input) }),
      name: z.string().optional(),
      disable_parallel_tool_use: z.boolean().optional(),
    },
    // OpenAI's strings ('auto', 'required', 'none') are the usual mistake.
    { error: 'tool_choice is an object here: {"type": "auto"}, {"type": "any"} (OpenAI\'s "required"), {"type": "tool", "name": ...} or {"type": "none"}' },
  )
  .superRefine((choice, context) => {
    if (choice.type === 'tool' && choice.name === undefined) context.addIssue({ code: 'custom', path: ['name'], message: "is required with type 'tool': the name of the tool to call" });
  });

/** A tool choice's type this API does not have: OpenAI's, with the form that says it here. */
function toolChoiceTypeProblem(type: unknown): string {
  const forms = "tool_choice.type must be 'auto', 'any', 'tool' or 'none'";
  if (type === 'function') return `${forms}: {"type": "function", "function": {"name": ...}} is the OpenAI Chat Completions form: here, send {"type": "tool", "name": ...}`;
  if (type === 'required') return `${forms}: 'required' is the OpenAI Chat Completions API's: here, send {"type": "any"}`;
  return forms;
}

/** Server tools run at Anthropic (web search, code execution, bash, text editor, computer use): no other upstream has them. */
function serverToolRefusal(issue: { readonly input?: unknown }): string {
  // OpenAI's form of a tool is no server tool: said as the mistake it is.
  if (issue.input === 'function') return 'tools in the OpenAI Chat Completions form ({"type": "function", "function": {...}}) are for POST /v1/chat/completions: here, each tool is {"name": ..., "description": ..., "input_schema": {...}}';
  const named = typeof issue.input === 'string' && isQuotableName(issue.input) ? ` ('${issue.input}')` : '';
  return `server tools${named} are not supported by Switchyard: offer your own tools, each with a name and an input_schema`;
}

/** What the gateway accepts from Anthropic Messages clients; unknown fields pass. */
export const anthropicRequestSchema = z.looseObject({
  model: z.string().min(1),
  // The legacy Text Completions API's fields, which older clients send here (E61): said first, before
  // the fields they stand for are found missing ("max_tokens is required" named nothing sent).
  prompt: otherApiField('prompt is a field of the legacy Text Completions API (POST /v1/complete), which is not served: here, send the conversation as messages, [{"role": "user", "content": "..."}]'),
  max_tokens_to_sample: otherApiField('max_tokens_to_sample is a field of the legacy Text Completions API: here, send max_tokens'),
  max_tokens: z.number().int().positive(),
  // System messages among the turns are in the SDK's MessageParam (1.x): kept in place, like OpenAI's.
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant', 'system']), content: messageContent })).min(1),
  system: systemContent.optional(),
  // Automatic prompt caching: the upstream places the breakpoint on the last cacheable block.
  cache_control: cacheControl,
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  // The same answer whichever upstream serves it: OpenAI-dialect upstreams take at most 4.
  stop_sequences: z.array(z.string().max(maxStopSequenceChars, `a stop sequence is at most ${maxStopSequenceChars} characters`)).optional(),
  stream: z.boolean().optional(),
  // An empty list asks for no tools, as leaving the field out does.
  tools: z.array(toolSchema).optional(),
  tool_choice: toolChoiceSchema.optional(),
  mcp_servers: noTools('MCP servers (tools) are not supported by Switchyard yet').optional(),
  output_config: z.looseObject({ format: outputFormat.nullish(), effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullish() }).optional(),
  // The structured-outputs beta's name for output_config.format, which older SDKs send.
  output_format: outputFormat.nullish(),
  metadata: z.looseObject({ user_id: z.string().max(256, 'metadata.user_id is at most 256 characters: an opaque id of your end user').nullish() }).nullish(),
  thinking: thinkingConfig.optional(),
  // Data residency: honoured as a jurisdiction, never dropped (see ChatRequest.geography).
  inference_geo: z.string().max(64).regex(idPattern, "expected one jurisdiction name, such as 'us' or 'eu.fr', or 'global' for any").nullish(),
  // OpenAI Chat Completions fields that callers send here by mistake: the Messages API refuses them
  // ("Extra inputs are not permitted"), and dropping them would change the answer.
  stop: otherApiField('stop is a field of the OpenAI Chat Completions API (POST /v1/chat/completions): here, send stop_sequences'),
  max_completion_tokens: otherApiField('max_completion_tokens is a field of the OpenAI Chat Completions API: here, send max_tokens'),
  response_format: otherApiField('response_format is a field of the OpenAI Chat Completions API: here, send output_config.format, {"type": "json_schema", "schema": ...}'),
  n: otherApiField('n is a field of the OpenAI Chat Completions API: the Messages API returns one answer per request'),
  seed: otherApiField('seed is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  logprobs: otherApiField('logprobs is a field of the OpenAI Chat Completions API, and logprobs are not supported by Switchyard'),
  top_logprobs: otherApiField('top_logprobs is a field of the OpenAI Chat Completions API, and logprobs are not supported by Switchyard'),
  logit_bias: otherApiField('logit_bias is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  frequency_penalty: otherApiField('frequency_penalty is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  presence_penalty: otherApiField('presence_penalty is a field of the OpenAI Chat Completions API, not of the Messages API: remove it'),
  user: otherApiField('user is a field of the OpenAI Chat Completions API: here, send metadata.user_id'),
  functions: otherApiField('functions is a field of the OpenAI Chat Completions API: here, send tools, each with a name and an input_schema'),
  function_call: otherApiField('function_call is a field of the OpenAI Chat Completions API: here, send tool_choice'),
  modalities: otherApiField('modalities is a field of the OpenAI Chat Completions API, and only text output is supported'),
  audio: otherApiField('audio is a field of the OpenAI Chat Completions API, and only text output is supported'),
  reasoning_effort: otherApiField("reasoning_effort is a field of the OpenAI Chat Completions API: here, send output_config.effort ('low', 'medium', 'high', 'xhigh' or 'max')"),
  parallel_tool_calls: otherApiField('parallel_tool_calls is a field of the OpenAI Chat Completions API: here, send tool_choice with disable_parallel_tool_use'),
  safety_identifier: otherApiField('safety_identifier is a field of the OpenAI Chat Completions API: here, send metadata.user_id'),
  web_search_options: otherApiField('web_search_options is a field of the OpenAI Chat Completions API, and web search is not supported by Switchyard'),
  // Betas that change what the answer is or who pays for it, which no upstream here is asked for.
  compaction: otherApiField('compaction (a beta of the Messages API) is not supported by Switchyard: its answer would be an ordinary reply, not a compaction block; ask for a summary in the conversation instead'),
  // An empty list asks for none.
  fallbacks: noTools('fallbacks (a beta of the Messages API) are not supported by Switchyard: the route serves the model asked for; send a declined request again with another model yourself').nullish(),
  // Billing the caller's own account ('self', the default) is what happens anyway.
  billing_policy: z
    .looseObject({ bill_to: z.unknown().optional() }, { error: 'billing_policy must be an object' })
    .nullish()
    .refine((policy) => policy?.bill_to === undefined || policy.bill_to === null || policy.bill_to === 'self', { error: "billing_policy (a beta of the Messages API) is not supported by Switchyard but for bill_to 'self': Switchyard bills no user profile" }),
  user_profile_id: otherApiField("user_profile_id (a beta of the Messages API) is not supported by Switchyard, which bills no user profile: leave it out"),
});

/** A token count's request: a chat request without an answer's budget (other answer settings pass, unread). */
export const anthropicCountRequestSchema = anthropicRequestSchema.extend({
  max_tokens: z.number().int().positive().optional(),
  // Sent to count "the exact body you will send" and ignored there, as a count has no answer and bills nobody.
  compaction: z.unknown().optional(),
  billing_policy: z.unknown().optional(),
  user_profile_id: z.unknown().optional(),
  fallbacks: z.unknown().optional(),
});

/** A request's parts as the schemas read them (a Messages request's and a token count's alike), for the reader that makes it canonical. */
export type AnthropicTurnInput = z.infer<typeof anthropicCountRequestSchema>['messages'][number];
export type AnthropicSystem = z.infer<typeof systemContent>;
export type AnthropicToolResultBlock = z.infer<typeof toolResultBlock>;
export type AnthropicThinkingConfig = z.infer<typeof thinkingConfig>;
export type AnthropicToolChoice = z.infer<typeof toolChoiceSchema>;
export type AnthropicCacheControl = z.infer<typeof cacheControl>;
