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
  if (format?.type === 'json_schema') return withOpenObject({ structuredOutput: 'json_schema' }, openObjectPath(format.schema), "the response format's schema");
  if (format !== undefined) return { structuredOutput: format.type };
  // Tools the model may not call (tool choice none) constrain nothing.
  if (request.toolChoice?.type === 'none') return {};
  const strict = request.tools?.filter((tool) => tool.strict === true) ?? [];
  for (const tool of strict) {
    const open = openObjectPath(asObjectSchema(tool.parameters));
    if (open !== undefined) return withOpenObject({ structuredOutput: 'strict_tools' }, open, `tool ${tool.name}'s parameters`);
  }
  return strict.length > 0 ? { structuredOutput: 'strict_tools' } : {};
}

function withOpenObject(traits: Pick<RouteInput, 'structuredOutput'>, path: string | undefined, schema: string): Pick<RouteInput, 'structuredOutput' | 'openObject'> {
  return path === undefined ? traits : { ...traits, openObject: `${schema} at ${path}` };
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
