import type { ChatRequest } from '../protocol/chat.js';
import { imageCount, pdfCount } from '../protocol/chat.js';
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

/** The output a request needs its upstream to constrain (routing step 3c), if any. */
function structuredOutputOf(request: ChatRequest): { structuredOutput?: 'json_object' | 'json_schema' | 'strict_tools' } {
  if (request.responseFormat !== undefined) return { structuredOutput: request.responseFormat.type };
  // Tools the model may not call (tool choice none) constrain nothing.
  return request.toolChoice?.type !== 'none' && request.tools?.some((tool) => tool.strict === true) === true ? { structuredOutput: 'strict_tools' } : {};
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
