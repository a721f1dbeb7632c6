/** Telling credentials in text a user wrote (a config's names and values), so that they are neither kept nor echoed. */

/** Words of names that carry credentials (Helicone-Auth, x-goog-api-key, a URL's ?sig=): their values belong in environment variables. */
const credentialWords: ReadonlySet<string> = new Set(['auth', 'authorization', 'key', 'apikey', 'token', 'secret', 'password', 'cookie', 'credential', 'credentials', 'sig', 'signature']);

/** Whether a name (a header's, a URL query parameter's) says it carries a credential: one of its words, split at - and _, does. */
export function namesCredential(name: string): boolean {
  return name.toLowerCase().split(/[-_]/).some((word) => credentialWords.has(word));
}

/** Whether text holds what looks like a key: an auth scheme with its credentials, or a word with a key's prefix. */
export function holdsKey(text: string): boolean {
  return /\b(Bearer|Basic|Digest) /i.test(text) || jsonWebToken.test(text) || text.split(/[^\w-]+/).some((word) => keyPrefix.test(word));
}

/**
 * A JSON Web Token, signed or encrypted (RFC 7519: JWS or JWE): a base64url JSON header, opening as
 * '{"' or '{ "' does, and dot-separated segments after it (R26, R27).
 */
const jsonWebToken = /(?<![A-Za-z0-9])ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{2,}/;

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
  return text.replace(/\b(Bearer|Basic|Digest) +[^\s'",;]+/gi, '$1 (not shown)').replace(/[\w.:/-]+/g, (word) => {
    const own = declared.has(word.replace(/[.:/]+$/, ''));
    return word.replace(/[\w-]+/g, (piece) => ((own ? isProviderKey(piece) : looksKeyLike(piece)) ? '(what looks like a key, not shown)' : piece));
  });
}

/** A key's prefix, or a run as long as a key with digits (see isProviderKey). */
function looksKeyLike(piece: string): boolean {
  return keyPrefix.test(piece) || isLongKeyRun(piece);
}

/** A key as providers issue them: their prefix with digits in 20 characters or more (AWS access key ids are 20), or a long run. */
function isProviderKey(piece: string): boolean {
  return (keyPrefix.test(piece) && piece.length >= 20 && /[0-9]/.test(piece)) || isLongKeyRun(piece);
}

/**
 * Mixed case and digits in one run of 24 characters or more (Mistral's, Cohere's), or 32 letters and
 * digits without a '-' or '_' (hex keys, Azure's and Together's; a lower-cased one): model names
 * ('Meta-Llama-3-1-405B-Instruct') and snake_case ids have those separators.
 */
function isLongKeyRun(piece: string): boolean {
  const mixed = /^[A-Za-z0-9]{24,}$/.test(piece) && /[a-z]/.test(piece) && /[A-Z]/.test(piece) && /[0-9]/.test(piece);
  return mixed || (/^[A-Za-z0-9]{32,}$/.test(piece) && /[0-9]/.test(piece) && /[A-Za-z]/.test(piece));
}

/** How the keys of common providers begin. */
const keyPrefix = /^(sk-|sk_|gsk_|hf_|ghp_|gho_|github_pat_|AKIA|ASIA|AIza|xox[abp]_)/;

/**
 * Whether a value that is a valid variable name is more likely a pasted key: a known key prefix
 * (Groq's gsk_, Hugging Face's hf_, AWS's AKIA, GitHub's ghp_, Google's AIza), or a long run of mixed
 * case and digits, which variable names (UPPER_SNAKE by convention) do not have. It would be echoed
 * by the warning for an unset variable, so it is refused unechoed instead.
 */
export function looksLikeKey(name: string): boolean {
  if (keyPrefix.test(name)) return true;
  return name.length >= 24 && /[a-z]/.test(name) && /[A-Z]/.test(name) && /[0-9]/.test(name);
}
