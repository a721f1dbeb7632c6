import { z } from 'zod';
import type { Parsed } from './chat.js';

/**
 * A client's request that failed its dialect's schema, as a 400 naming the first bad field. A path
 * step that is caller text (a record's key, as in logit_bias) is named `<key>` unless it is a plain
 * name: it would be echoed in the message and the log. A bad key says what its own schema says.
 */
export function invalidRequest(error: z.ZodError): Parsed<never> {
  const { param, message } = firstIssue(error, 'invalid request');
  return { ok: false, problem: { status: 400, kind: 'invalid_request', message: `${param === '' ? 'request' : param}: ${message}`, param } };
}

/**
 * An upstream's answer that failed its dialect's schema, as a 502 naming the first bad field, so
 * an operator can tell which (`what`: "chat completion"). Nothing of the answer's values is quoted.
 */
export function malformedAnswer(error: z.ZodError, what: string): Parsed<never> {
  const { param, message } = firstIssue(error, 'invalid');
  return { ok: false, problem: { status: 502, kind: 'api_error', message: `upstream returned a malformed ${what}: ${param === '' ? 'the body' : param}: ${message}` } };
}

/** Why an upstream's whole answer whose finish (`field`) is null is no answer: it may have been cut short. */
export function unfinishedAnswer(field: 'finish_reason' | 'stop_reason'): string {
  return `upstream returned a whole answer whose ${field} is null: it may have been cut short, so it is not passed on as complete`;
}

/** The first issue's path (caller or upstream text named `<key>` unless a plain name) and its message in plain words. */
function firstIssue(error: z.ZodError, fallback: string): { readonly param: string; readonly message: string } {
  const issue = error.issues[0];
  const param = issue?.path.map((step) => (typeof step === 'number' || (typeof step === 'string' && isQuotableName(step)) ? String(step) : '<key>')).join('.') ?? '';
  const message = (issue?.code === 'invalid_key' ? issue.issues[0]?.message : undefined) ?? (issue === undefined ? undefined : plainMessage(issue)) ?? fallback;
  return { param, message };
}

/**
 * An issue's message in plain words when it is zod's own ("Too small: expected number to be >0"),
 * which reads as the validator's, not the API's; a message the schema wrote is kept as it is.
 */
function plainMessage(issue: z.core.$ZodIssue): string {
  if (!/^(Too small|Too big|Invalid input|Invalid option)/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'too_small':
    case 'too_big': {
      const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const inclusive = issue.inclusive !== false;
      if (issue.origin === 'number' || issue.origin === 'int') return `must be ${issue.code === 'too_small' ? (inclusive ? 'at least' : 'greater than') : inclusive ? 'at most' : 'less than'} ${String(bound)}`;
      if (issue.origin === 'string' && issue.code === 'too_small' && bound === 1) return 'must not be empty';
      const unit = `${issue.origin === 'string' ? 'character' : 'item'}${bound === 1 ? '' : 's'}`;
      return `must have ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} ${unit}`;
    }
    case 'invalid_type': {
      const received = /received (\w+)$/.exec(issue.message)?.[1];
      const named = issue.expected === 'record' ? 'object' : issue.expected;
      const expected = issue.expected === 'int' ? 'a whole number' : `${/^[aeiou]/.test(named) ? 'an' : 'a'} ${named}`;
      if (received === 'undefined') return `is required: ${expected}`;
      if (received === 'Infinity' || received === 'NaN') return 'must be a finite number';
      return `must be ${expected}${received === undefined || issue.expected === 'int' ? '' : `, got ${received === 'null' ? 'null' : `${/^[aeiou]/.test(received) ? 'an' : 'a'} ${received}`}`}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    default:
      return issue.message;
  }
}

/**
 * Whether caller text may be quoted back in an error message: a short plain name (letters,
 * digits, '_', '.', '-'). Messages reach logs, where nothing else of a request may appear.
 */
export function isQuotableName(text: string): boolean {
  return /^[a-z0-9_.-]{1,40}$/i.test(text);
}

/** How many characters of a caller-chosen identifier an error quotes. */
export const quotedIdentifierChars = 64;

/** A caller-chosen identifier (a model name) quoted in an error: at most 64 characters, so a huge one is neither echoed nor logged whole. */
export function quoteIdentifier(text: string): string {
  if (text.length <= quotedIdentifierChars) return `'${text}'`;
  // Not between the two halves of a surrogate pair: a lone half is invalid in strict JSON parsers.
  const end = /[\ud800-\udbff]/.test(text.charAt(quotedIdentifierChars - 1)) ? quotedIdentifierChars - 1 : quotedIdentifierChars;
  return `'${text.slice(0, end)}...'`;
}

/**
 * The message for message content that is neither a string nor blocks of the `accepted` types (text,
 * and images where the field takes them): names the first other block type sent (document,
 * tool_use, thinking...), so a caller sees what was refused; the type is caller text, so it is
 * quoted only when isQuotableName.
 */
export function unsupportedContent(blockName: string, field = 'content', accepted: readonly string[] = ['text']): (issue: { readonly input?: unknown }) => string {
  const kinds = accepted.length === 1 ? 'text' : `${accepted.slice(0, -1).join(', ')} and ${accepted.at(-1) ?? ''}`;
  const expected = `${field} must be a string or an array of ${kinds} ${blockName}s ({"type": "text", "text": "..."})`;
  return (issue) => {
    if (!Array.isArray(issue.input)) return `${expected}; got ${issue.input === null ? 'null' : typeof issue.input}`;
    const blocks = issue.input as unknown[];
    const other = blocks.find((block) => !accepted.includes((block as { type?: unknown } | null)?.type as string)) as { type?: unknown } | null | undefined;
    if (other === undefined) {
      const textless = blocks.some((block) => (block as { type?: unknown }).type === 'text' && typeof (block as { text?: unknown }).text !== 'string');
      return textless ? `${expected}; a text ${blockName} needs a string "text"` : `${expected}; a ${blockName} is missing a field its type needs`;
    }
    const type = other?.type;
    if (typeof type !== 'string') return `${expected}; each ${blockName} needs a "type"`;
    return `${expected}: ${isQuotableName(type) ? `'${type}' ${blockName}s are` : `${blockName}s of that type are`} not supported by Switchyard yet`;
  };
}

/**
 * A field of the other API (or of OpenAI's Responses API) sent to this one: refused with `advice`,
 * what to send instead, since dropping it would change the answer (a system prompt or stop
 * sequences lost), as the real APIs refuse it. Null passes, as leaving it out does. Fields no API
 * names still pass: SDKs add new ones.
 */
export function otherApiField(advice: string): z.ZodOptional<z.ZodNull> {
  return z.null({ error: advice }).optional();
}

/** A tool list that asks for no tools: an empty one (tools are not supported yet). */
export function noTools(message: string): z.ZodTuple<[], null> {
  return z.tuple([], { error: message });
}

/**
 * Content blocks (OpenAI parts) read one by one, for a transform: a block whose type is not in
 * `accepted` is refused with `problem` (which names the type), a bad field of an accepted one at
 * its own path (messages.0.content.1.image_url.url). A union of block schemas would report any
 * bad block as the whole content being of the wrong shape.
 */
export function readBlocks<T extends z.ZodType>(value: string | readonly unknown[], context: z.RefinementCtx, accepted: readonly string[], block: T, problem: (issue: { readonly input?: unknown }) => string): string | z.infer<T>[] {
  if (typeof value === 'string') return value;
  const blocks: z.infer<T>[] = [];
  for (const [index, item] of value.entries()) {
    if (!accepted.includes((item as { type?: unknown } | null)?.type as string)) {
      context.addIssue({ code: 'custom', message: problem({ input: value }) });
      return z.NEVER;
    }
    const parsed = block.safeParse(item);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', path: [index, ...issue.path], message: plainMessage(issue) });
      return z.NEVER;
    }
    blocks.push(parsed.data);
  }
  return blocks;
}
