import type { ChatRequest } from '../protocol/chat.js';
import { imageCount, pdfCount } from '../protocol/chat.js';
import { asObjectSchema, openObjectPath } from '../protocol/json-schema-limits.js';
import type { TenantConfig } from './gateway-config.js';
import type { RouteInput } from './route-request.js';

/**
 * What routing reads of a request that is the same on every attempt: where it may go (the tenant's
 * jurisdictions, narrowed by the header and the request's geography) and what it asks of an
 * endpoint (structured output, images, PDFs, thinking it must get). One reading for answers, token
 * counts and the context check before a limit's refusal, so that they route alike.
 */
export function routedTraits(request: ChatRequest, tenant: TenantConfig, headerJurisdictions: readonly string[] | undefined): Omit<RouteInput, 'promptTokens' | 'maxOutputTokens'> {
  const hasImages = imageCount(request.messages) > 0;
  const imageUrls = hasImages ? imageUrlsOf(request) : undefined;
  return {
    model: request.model,
    tenantJurisdictions: tenant.jurisdictions,
    ...(headerJurisdictions === undefined ? {} : { headerJurisdictions }),
    ...(request.geography === undefined ? {} : { requestedGeography: request.geography }),
    ...structuredOutputOf(request),
    ...(hasImages ? { hasImages } : {}),
    ...(imageUrls === undefined ? {} : { imageUrls }),
    ...(pdfCount(request.messages) > 0 ? { hasPdfs: true } : {}),
    ...(request.thinking?.type === 'enabled' ? { thinking: true } : {}),
  };
}

/** The output a request needs its upstream to constrain (routing step 3c), if any, and where its schema has an open object. */
function structuredOutputOf(request: ChatRequest): Pick<RouteInput, 'structuredOutput' | 'openObject'> {
  const format = request.responseFormat;
  // Tools the model may not call (tool choice none) constrain nothing.
  const strict = request.toolChoice?.type === 'none' ? [] : (request.tools?.filter((tool) => tool.strict === true) ?? []);
  const structuredOutput = format?.type ?? (strict.length > 0 ? 'strict_tools' : undefined);
  if (structuredOutput === undefined) return {};
  // The format's schema, then each strict tool's (R40: a tool's map was passed over beside a format).
  const open = (format?.type === 'json_schema' ? placed(openObjectPath(format.schema), "the response format's schema", 'response_format') : undefined) ?? strict.map((tool) => placed(openObjectPath(asObjectSchema(tool.parameters), '', { toolParameters: true }), `tool ${tool.name}'s parameters`, 'tools')).find((found) => found !== undefined);
  return open === undefined ? { structuredOutput } : { structuredOutput, openObject: open };
}

function placed(path: string | undefined, schema: string, param: 'tools' | 'response_format'): RouteInput['openObject'] {
  return path === undefined ? undefined : { place: `${schema} at ${path}`, param };
}

/** Whether a request's images include URLs (routing step 3d): 'local' when one's host is plainly not public. */
function imageUrlsOf(request: ChatRequest): 'public' | 'local' | undefined {
  let urls: 'public' | 'local' | undefined;
  for (const message of request.messages) {
    for (const part of message.parts ?? []) {
      if (part.type !== 'image' || part.source.type !== 'url') continue;
      if (part.source.local === true) return 'local';
      urls = 'public';
    }
  }
  return urls;
}
