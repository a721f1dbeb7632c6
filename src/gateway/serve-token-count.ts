import { estimatePromptTokens } from '../protocol/chat.js';
import { anthropicDialect } from '../protocol/anthropic/anthropic-dialect.js';
import { sendJson } from '../protocol/send-json.js';
import { problemError } from './client-error.js';
import { countTokens } from './count-tokens.js';
import { headerJurisdictionsOf, refuseJurisdictionTrailer } from './jurisdiction-header.js';
import { headerValue } from './request-head.js';
import { routedTraits } from './routed-traits.js';
import { tokenCounting } from './served-paths.js';
import { admittedTenant, overLimit, refuseIfArrivedLate, resilienceOf, routeOf, watchClient } from './serving-steps.js';
import type { ServedCall, ServedOutcome, ServingShell } from './serving-shell.js';
import { isPromiseLike } from './awaitable.js';
import { checkRequestLimit } from './token-bucket.js';

/**
 * A token count (Anthropic's POST /v1/messages/count_tokens, which Claude Code calls before its
 * requests): checked as a chat request is (key, body, model, jurisdictions), charged one request
 * and no tokens, and asked of a counting endpoint the request may reach (see countTokens).
 */
export function serveTokenCount(shell: ServingShell, call: ServedCall): Promise<Omit<ServedOutcome, 'prompt' | 'completion'>> {
  const { core, store, limits } = shell;
  const { req, res, requestId, headers, labels, arrivedAt } = call;
  return shell.tracked(req, labels, async (authenticated, deadline) => {
    const body = await shell.readBody(req, res, deadline);
    refuseJurisdictionTrailer(req);
    const parsed = tokenCounting.parseRequest(body);
    const tenant = admittedTenant(shell, authenticated, labels);
    if (!parsed.ok) throw problemError(parsed.problem);
    const request = parsed.value;
    const route = routeOf(shell, request.model, labels);
    const resilience = resilienceOf(shell, route);
    refuseIfArrivedLate(shell, arrivedAt, resilience);
    // Before the request is charged, as a chat request's is: a caller's typo costs no quota.
    const headerJurisdictions = headerJurisdictionsOf(req);
    const admittedAt = core.now();
    const admission = store.ask(() => checkRequestLimit(limits, tenant, admittedAt), { requestId, deadline, res, recheck: () => admittedTenant(shell, authenticated, labels) });
    const admitted = isPromiseLike(admission) ? await admission : admission;
    Object.assign(headers, anthropicDialect.rateLimitHeaders(admitted.state, admittedAt));
    if (!admitted.allowed) throw overLimit(shell, tenant, admitted);
    // Counted where the same request would be answered: an endpoint that could not answer it may refuse to count it.
    const traits = routedTraits(request, tenant, headerJurisdictions);
    const promptTokens = estimatePromptTokens(request);
    // From the request's arrival, as a chat request's.
    const client = watchClient(res, deadline, Math.max(0, arrivedAt + resilience.deadlineMs - core.now()));
    const tried = new Set<string>();
    try {
      const counted = await countTokens(
        core,
        {
          requestId,
          via: headerValue(req.headers.via),
          log: shell.log,
          tenantId: tenant.id,
          route,
          resilience,
          deadline,
          clientGone: client.gone,
          shuttingDown: () => shell.shuttingDown() && !client.gone(),
          routeInput: (excluded) => ({ ...traits, tenantJurisdictions: shell.tenants.jurisdictionsNow(tenant, authenticated), promptTokens, maxOutputTokens: 0, excludeEndpoints: excluded }),
        },
        request,
        tried,
      );
      sendJson(res, 200, tokenCounting.formatResult(counted.inputTokens), headers);
      return { status: 200, endpoint: counted.endpoint, route: route.model, tenant: tenant.id, attempts: counted.attempts };
    } finally {
      labels.attempts = tried.size;
      client.stop();
      client.stopDeadline();
    }
  });
}
