import { quotedIdentifierChars } from '../protocol/request-problem.js';

/** Telling credentials in text a user wrote (a config's names and values), so that they are neither kept nor echoed. */

/** Words of names that carry credentials (Helicone-Auth, x-goog-api-key, a URL's ?sig=): their values belong in environment variables. */
const credentialWords: ReadonlySet<string> = new Set(['auth', 'authorization', 'key', 'apikey', 'token', 'secret', 'password', 'cookie', 'credential', 'credentials', 'sig', 'signature']);

/** Whether a name (a header's, a URL query parameter's) says it carries a credential: one of its words, split at - and _, does. */
export function namesCredential(name: string): boolean {
  return name.toLowerCase().split(/[-_]/).some((word) => credentialWords.has(word));
}

/** Whether text holds what looks like a key: an auth scheme with its credentials, or a word with a key's prefix. */
export function holdsKey(text: string): boolean {
  return holdsKeyWord(text, (word) => keyPrefix.test(word) || keyShape.test(word));
}

/**
 * Whether an id a caller chose (x-request-id) holds a key: an auth scheme's credentials, a JWT, a
 * provider's prefix with digits in 20 characters or more, a whole key's shape, or a run of mixed case
 * and digits. Not a short word that begins as a key does ('ASIA-PAC-0001', 'sk-SK-order-17'; R36), nor
 * a long run of one case, which is how trace ids are written (W3C's: 32 lowercase hex digits).
 */
export function holdsKeyInId(text: string): boolean {
  return holdsKeyWord(text, (word) => isIssuedKey(word) || isMixedKeyRun(word));
}

/** Credentials after an auth scheme, a JWT, or a word (between characters of neither \w nor '-') that `isKey` takes for one. */
function holdsKeyWord(text: string, isKey: (word: string) => boolean): boolean {
  return /\b(Bearer|Basic|Digest) /i.test(text) || holdsJsonWebToken(text) || text.split(/[^\w-]+/).some(isKey);
}

/**
 * Whether text holds a JSON Web Token, signed or encrypted (RFC 7519: JWS or JWE; R26, R27), or
 * unsecured: a segment whose base64url decodes to a JSON object naming its `alg`, with two segments
 * or more after it (one and a final '.' for alg "none"). Judged by decoding, not by a look (R28: 'eyecare-portal.example.com' looked like one), and in
 * one pass over the text (a regular expression over it took quadratic time on 'ey' repeated).
 */
function holdsJsonWebToken(text: string): boolean {
  if (!text.includes('ey')) return false;
  for (const whole of text.split(/[^A-Za-z0-9_.-]+/)) {
    // A full stop after a token is no part of it; an unsecured one (alg "none") ends in its own '.' (RFC 7519, 6.1; R57).
    // (Trimmed by a loop: /\.+$/ takes quadratic time on a long run of dots before other text.)
    let end = whole.length;
    while (end > 0 && whole.charCodeAt(end - 1) === 46) end -= 1;
    const run = whole.slice(0, end);
    const endsInDot = end < whole.length;
    const segments = run.split('.');
    for (let index = 0; index + 1 < segments.length; index += 1) {
      const segment = segments[index] ?? '';
      // The header begins the segment, or follows a '_' or '-' glued to it ('jwt_eyJ...').
      const start = segment.search(/(?:^|[_-])ey(?:J|Ai)/);
      if (start < 0) continue;
      const signed = index + 2 < segments.length && (segments.at(-1) ?? '').length >= 2;
      const unsecured = endsInDot && index + 2 === segments.length;
      if (!signed && !unsecured) continue;
      const alg = algorithmOf(segment.slice(start === 0 && segment.startsWith('ey') ? 0 : start + 1));
      if (alg !== undefined && (signed || alg === 'none')) return true;
    }
  }
  return false;
}

/** The `alg` base64url text names when it decodes to a JSON object with one (a JOSE header), as text. */
function algorithmOf(base64url: string): string | undefined {
  if (base64url.length > 4096) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(base64url, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && 'alg' in header ? String(header.alg) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a header's name says it carries an identity: a credential's word (namesCredential), or an
 * identity assertion's (Google IAP's and Cloudflare Access's jwt-assertion, AWS ALB's x-amzn-oidc-*,
 * Azure's x-ms-client-principal), or a token run into another word (accesstoken). For a header whose
 * value the gateway would log, not for ones it sends, which may be named so without being secret.
 */
export function namesIdentity(name: string): boolean {
  const words = name.toLowerCase().split(/[-_]/);
  return namesCredential(name) || words.some((word) => identityWords.has(word) || word.endsWith('token'));
}

const identityWords: ReadonlySet<string> = new Set(['jwt', 'assertion', 'keys', 'oidc', 'principal', 'identity', 'session']);

/**
 * Text the gateway wrote about a user's input, with every word that looks like a key replaced (a
 * key's prefix, a long run of letters and digits, what follows an auth scheme): for messages that
 * quote values (an unknown reference, a repeated id, a list of known ones), whichever field the key
 * was pasted into. Pieces are judged between '.', ':' and '/' too, so a key glued to text
 * ('azure:<key>') is found. `declared`: names the file gives things (ids, models), taken whole as
 * written ('sk-learn.v2', 'vllm_llama_3_1_70b_us_east_1'), whose pieces are hidden only when they
 * are as a provider's key is (a prefix and digits in 20 characters or more, or a long run): the user's own,
 * which a message that hid them could not name.
 */
export function withoutKeys(text: string, declared: ReadonlySet<string> = new Set()): string {
  return text
    // (Not the placeholder the gateway's own hints write, "Bearer <key>", E61.)
    .replace(/\b(Bearer|Basic|Digest) +(?!<key>(?:[\s'",;]|$))[^\s'",;]+/gi, '$1 (not shown)')
    // A JWT whole (R56: its pieces between dots are short, and passed as words), as holdsKey tells one.
    .replace(/[A-Za-z0-9_.-]+/g, (run) => (holdsJsonWebToken(run) ? hiddenKey : run))
    .replace(/[\w.:/-]+/g, (word) => {
      const own = declared.has(word.replace(/[.:/]+$/, ''));
      return word.replace(/[\w-]+/g, (piece) => ((own ? isProviderKey(piece) : looksKeyLike(piece)) ? hiddenKey : piece));
    });
}

const hiddenKey = '(what looks like a key, not shown)';

/** What a tenant's key is replaced with where text quotes one. */
export const hiddenTenantKey = "(a tenant's key, not shown)";

/**
 * Text that may quote a caller's words (a refusal naming the model or path it sent) without a
 * tenant's key (R78: one sent as the model, an environment variable mixed up, was logged). Tenants'
 * keys have no shape to tell them by (an operator chooses them; `up`'s demo key has dashes), so each
 * word of 8 characters or more, and each such piece of one between the punctuation that ids, paths
 * and lists glue words with, is looked up by `isTenantKey` (by its hash, as a request id is); the
 * request's own keys are found glued to anything. Keys under 8 characters are placeholders, no secret.
 */
export function withoutTenantKeys(text: string, isTenantKey: (word: string) => boolean, ownKeys: readonly (string | undefined)[] = []): string {
  let scrubbed = text;
  for (const own of ownKeys) if (own !== undefined && own.length >= 8) scrubbed = scrubbed.split(own).join(hiddenTenantKey);
  // Each lookup is a SHA-256: a long text (an upstream's words, logged with logPrompts, which logs
  // prompts too) is looked up in its first words only. A refusal's own reason has a few.
  let lookups = 0;
  const isKey = (word: string): boolean => lookups++ < maxKeyLookups && isTenantKey(word);
  return scrubbed.replace(/[^\s'"`]{8,}/g, (word) => {
    if (isKey(word)) return hiddenTenantKey;
    const pieces = word.split(/[.:@/+=,;()[\]{}<>?&#]+/);
    return pieces.length === 1 ? word : word.replace(/[^\s'"`.:@/+=,;()[\]{}<>?&#]{8,}/g, (piece) => (isKey(piece) ? hiddenTenantKey : piece));
  });
}

const maxKeyLookups = 256;

/**
 * Text with every caller's text quoted cut at its limit ('...' after 64 characters) shortened to its
 * first 8: a tenant's key longer than the limit, cut, is found by no hash (R79), and its first 64
 * characters would leave too few unknown. (Eight is what OpenAI's own 401 shows of a key.)
 */
export function withoutCutQuotes(text: string): string {
  return text.replace(cutQuote, (_quote, start: string) => `'${start}...' (cut)`);
}

const cutQuote = new RegExp(`'([^']{8})[^']{${String(quotedIdentifierChars - 9)},${String(quotedIdentifierChars - 8)}}\\.\\.\\.'`, 'g');

/** A key's prefix, or a run as long as a key with digits (see isProviderKey), past any '-' or '_' glued before it (R57: '--sk-ant-...'). */
function looksKeyLike(piece: string): boolean {
  const bare = piece.replace(/^[-_]+/, '');
  return keyPrefix.test(bare) || keyShape.test(bare) || isLongKeyRun(bare);
}

/** A key as providers issue them, or a long run (see isLongKeyRun). */
function isProviderKey(piece: string): boolean {
  return isIssuedKey(piece) || isLongKeyRun(piece);
}

/** A provider's prefix with digits in 20 characters or more (AWS access key ids are 20), or a whole key's shape. */
function isIssuedKey(piece: string): boolean {
  return (keyPrefix.test(piece) && piece.length >= 20 && /[0-9]/.test(piece)) || keyShape.test(piece);
}

/**
 * Mixed case and digits in one run of 24 characters or more (Mistral's, Cohere's), or 32 letters and
 * digits without a '-' or '_' (hex keys, Azure's and Together's; a lower-cased one): model names
 * ('Meta-Llama-3-1-405B-Instruct') and snake_case ids have those separators.
 */
function isLongKeyRun(piece: string): boolean {
  return isMixedKeyRun(piece) || (/^[A-Za-z0-9]{32,}$/.test(piece) && /[0-9]/.test(piece) && /[A-Za-z]/.test(piece));
}

/** Mixed case and digits in one run of 24 characters or more (Mistral's keys, Cohere's). */
function isMixedKeyRun(piece: string): boolean {
  return /^[A-Za-z0-9]{24,}$/.test(piece) && /[a-z]/.test(piece) && /[A-Z]/.test(piece) && /[0-9]/.test(piece);
}

/** How the keys of common providers begin. */
const keyPrefix = /^(sk-|sk_|gsk_|hf_|ghp_|gho_|github_pat_|AKIA|ASIA|AIza|xox[abp]_)/;

/**
 * Whole keys of providers whose prefixes alone are common words of ids and header values ('xai-prod',
 * 'fw_us_east'; R32): xAI's, Perplexity's, Fireworks' and Replicate's, a run of 20 letters and digits
 * or more, digits among them; NVIDIA's, 40 characters or more (it issues 64), and GitLab's, exactly
 * 20, '-' and '_' among them, digits or not (R31, R33, R34, R35).
 */
const keyShape = /^((xai-|pplx-|fw_|r8_)(?=[A-Za-z]*[0-9])[A-Za-z0-9]{20,}|nvapi-[\w-]{40,}|glpat-[\w-]{20})$/;

/**
 * Whether a value that is a valid variable name is more likely a pasted key: a known key prefix
 * (Groq's gsk_, Hugging Face's hf_, AWS's AKIA, GitHub's ghp_, Google's AIza), or a long run of mixed
 * case and digits, which variable names (UPPER_SNAKE by convention) do not have. It would be echoed
 * by the warning for an unset variable, so it is refused unechoed instead.
 */
export function looksLikeKey(name: string): boolean {
  if (keyPrefix.test(name) || keyShape.test(name)) return true;
  return name.length >= 24 && /[a-z]/.test(name) && /[A-Z]/.test(name) && /[0-9]/.test(name);
}
