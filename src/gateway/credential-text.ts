/** Telling credentials in text a user wrote (a config's names and values), so that they are neither kept nor echoed. */

/** Words of names that carry credentials (Helicone-Auth, x-goog-api-key, a URL's ?sig=): their values belong in environment variables. */
const credentialWords: ReadonlySet<string> = new Set(['auth', 'authorization', 'key', 'apikey', 'token', 'secret', 'password', 'cookie', 'credential', 'credentials', 'sig', 'signature']);

/** Whether a name (a header's, a URL query parameter's) says it carries a credential: one of its words, split at - and _, does. */
export function namesCredential(name: string): boolean {
  return name.toLowerCase().split(/[-_]/).some((word) => credentialWords.has(word));
}

/** Whether text holds what looks like a key: an auth scheme with its credentials, or a word with a key's prefix. */
export function holdsKey(text: string): boolean {
  return /\b(Bearer|Basic|Digest) /i.test(text) || text.split(/[^\w-]+/).some((word) => keyPrefix.test(word));
}

/**
 * Text the gateway wrote about a user's input, with every word that looks like a key replaced (a
 * key's prefix, a long run of letters and digits, what follows an auth scheme): for messages that
 * quote values (an unknown reference, a repeated id, a list of known ones), whichever field the key
 * was pasted into. `declared`: names the file gives things (ids, models), left as written, since
 * they are the user's own and a message that hid them could not name them ('sk-learn.v2',
 * 'vllm_llama_3_1_70b_instruct_us_east_1'); but not one that is as a key is, a key's prefix or mixed
 * case with digits over 20 characters (a key pasted as an id).
 */
export function withoutKeys(text: string, declared: ReadonlySet<string> = new Set()): string {
  const hidden = (word: string): boolean => wordLooksLikeKey(word) && !(declared.has(word) && !asKeysAre(word));
  // Words as ids are written (with '.' and ':'), but a sentence's own full stop or colon after one left out.
  return text.replace(/\b(Bearer|Basic|Digest) +[^\s'",;]+/gi, '$1 (not shown)').replace(/[\w.:-]+/g, (word) => {
    const core = word.replace(/[.:]+$/, '');
    return hidden(core) ? `(what looks like a key, not shown)${word.slice(core.length)}` : word;
  });
}

/** A key as providers issue them: their prefix or mixed case, with digits, over 20 characters. */
function asKeysAre(word: string): boolean {
  return word.length > 20 && /[0-9]/.test(word) && (keyPrefix.test(word) || (/[a-z]/.test(word) && /[A-Z]/.test(word)));
}

/** A key's prefix, a key's mixed case and digits (looksLikeKey), or 32 letters and digits in one run (hex keys; a lower-cased one). */
function wordLooksLikeKey(word: string): boolean {
  return looksLikeKey(word) || (/^[A-Za-z0-9_]{32,}$/.test(word) && /[0-9]/.test(word) && /[A-Za-z]/.test(word));
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
