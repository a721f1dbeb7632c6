import type { Dialect } from './dialect.js';
import { dialects } from './dialects.js';
import { openaiDialect } from './openai/openai-dialect.js';

const all: readonly Dialect[] = Object.values(dialects);
/** Each dialect with the prefix of the paths under its chat path, made once: read for every request. */
const byChatPath: readonly (readonly [Dialect, string])[] = all.map((dialect) => [dialect, `${dialect.chatPath}/`]);

/** Whether a path is a dialect's chat path (POST /v1/chat/completions, POST /v1/messages). */
export function isChatPath(path: string): boolean {
  return all.some((dialect) => dialect.chatPath === path);
}

/**
 * The API a request speaks: the dialect whose chat path it calls, or a path under it (Anthropic's
 * /v1/messages/count_tokens); elsewhere the one whose own version header it carries (see
 * Dialect.versionHeader); else OpenAI's, which most clients speak.
 */
export function inboundDialect(path: string, headers: Readonly<Record<string, unknown>> = {}): Dialect {
  for (const [dialect, under] of byChatPath) {
    if (path === dialect.chatPath || path.startsWith(under)) return dialect;
  }
  return all.find((dialect) => dialect.versionHeader !== undefined && headers[dialect.versionHeader] !== undefined) ?? openaiDialect;
}
