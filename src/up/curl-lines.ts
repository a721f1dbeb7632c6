/** Ready-to-paste curl commands against a running gateway, one per inbound dialect. */
export interface CurlLines {
  /** `POST /v1/chat/completions` with `Authorization: Bearer`. */
  readonly openai: string;
  /** `POST /v1/messages` with `x-api-key` and `anthropic-version`. */
  readonly anthropic: string;
}

/** The prompt the demo curl lines send. */
const demoPrompt = 'Say hello from Switchyard.';
const demoMaxTokens = 64;

/** Quotes one argument for a POSIX shell (single quotes; an embedded quote becomes '\''). */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function curlLines(url: string, apiKey: string, model: string): CurlLines {
  const messages = [{ role: 'user', content: demoPrompt }];
  const command = (path: string, headers: readonly string[], body: unknown): string =>
    ['curl', '-sS', `${url}${path}`, ...headers.flatMap((h) => ['-H', h]), '-d', JSON.stringify(body)].map(shellQuote).join(' ');
  return {
    openai: command('/v1/chat/completions', [`Authorization: Bearer ${apiKey}`, 'Content-Type: application/json'], { model, max_tokens: demoMaxTokens, messages }),
    anthropic: command('/v1/messages', [`x-api-key: ${apiKey}`, 'anthropic-version: 2023-06-01', 'Content-Type: application/json'], { model, max_tokens: demoMaxTokens, messages }),
  };
}
