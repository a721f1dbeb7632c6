import { describe, expect, it } from 'vitest';
import { holdsKey, withoutCutQuotes, withoutKeys, withoutTenantKeys } from '../../src/gateway/credential-text.js';
import { quoteIdentifier } from '../../src/protocol/request-problem.js';

describe('withoutKeys', () => {
  it("hides a key even where it is one of the config's own names, digits or not (R35), but shows the names it gives", () => {
    const gitlab = 'glpat-abcdEFGHijklMNOP_-qr';
    expect(withoutKeys(`endpoint '${gitlab}' is unknown`, new Set([gitlab]))).toBe("endpoint '(what looks like a key, not shown)' is unknown");
    expect(withoutKeys("tenant 'sk-learn' is over its limit", new Set(['sk-learn']))).toBe("tenant 'sk-learn' is over its limit");
    expect(withoutKeys("tenant 'sk-learn' is over its limit")).toBe("tenant '(what looks like a key, not shown)' is over its limit");
  });

  it('hides a JWT whole, signature included, wherever it is glued (R56), and a word that only begins as one stays', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
    expect(withoutKeys(`argument '${jwt}' is invalid`)).toBe("argument '(what looks like a key, not shown)' is invalid");
    expect(withoutKeys("argument 'eyJhbGciOiJIUzI1NiJ9.e30.abc' is invalid")).toBe("argument '(what looks like a key, not shown)' is invalid");
    expect(withoutKeys(`token=jwt_${jwt}; next`)).toBe('token=(what looks like a key, not shown); next');
    expect(withoutKeys("host 'eyecare-portal.example.com' is unknown")).toBe("host 'eyecare-portal.example.com' is unknown");
    // Unsecured (alg none, an empty signature) and signed before a full stop, claims and all (R57).
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1"}').toString('base64url')}.`;
    expect(withoutKeys(`x ${none} y`)).toBe('x (what looks like a key, not shown) y');
    expect(holdsKey(`the token was ${jwt}.`)).toBe(true);
    // A signed header with nothing after its payload is no token (alg not none): a word and a dot stay.
    expect(holdsKey(`${Buffer.from('{"alg":"HS256"}').toString('base64url')}.notatoken.`)).toBe(false);
  });

  it("hides a key behind dashes glued to it, as a flag's '=--' gives (R57), and keeps a flag's own name", () => {
    expect(withoutKeys("got '--sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij'")).toBe("got '(what looks like a key, not shown)'");
    expect(withoutKeys("got '_AKIAIOSFODNN7EXAMPLE1'")).toBe("got '(what looks like a key, not shown)'");
    expect(withoutKeys("option '--served-model-name <name>' given twice")).toBe("option '--served-model-name <name>' given twice");
  });

  it('tells keys by prefix and run, not ordinary values that share a prefix (R32, R33, R34)', () => {
    for (const key of ['xai-Ab12Cd34Ef56Gh78Ij90Kl12Mn34', 'glpat-x9Yz_Ab3-Cd5EfGh7IjK', 'glpat-abcdEFGHijklMNOP_-qr', `nvapi-${'Qw3rTy_uI0pAs-Df9'.repeat(3)}`]) expect(holdsKey(key)).toBe(true);
    for (const value of ['xai-prod', 'fw_us_east', 'nvapi-gateway-internal-service-01', 'glpat-rotation-job-2026-11-30', 'req_011CSHoEeqs5C35K2UUqR7Fy']) expect(holdsKey(value)).toBe(false);
  });
});

describe('withoutTenantKeys', () => {
  const keys = new Set(['team+Blue/2026==', 'acme-prod-7f3k29dj']);
  const isKey = (word: string): boolean => keys.has(word);
  const hidden = "(a tenant's key, not shown)";

  it("hides a tenant's key as a whole word, base64's '+', '/' and '=' in it included, or as a piece between a path's or an id's punctuation", () => {
    expect(withoutTenantKeys("model 'team+Blue/2026==' is not served here", isKey)).toBe(`model '${hidden}' is not served here`);
    expect(withoutTenantKeys("no such path: POST '/v1/models/acme-prod-7f3k29dj'", isKey)).toBe(`no such path: POST '/v1/models/${hidden}'`);
    expect(withoutTenantKeys('prod:acme-prod-7f3k29dj, staging', isKey)).toBe(`prod:${hidden}, staging`);
  });

  it("hides the request's own keys glued to anything, but no key under 8 characters (a placeholder), and leaves other words", () => {
    expect(withoutTenantKeys("model 'v2_my-own-key-123' is unknown", isKey, ['my-own-key-123', undefined])).toBe(`model 'v2_${hidden}' is unknown`);
    expect(withoutTenantKeys("model 'dummy' is unknown", isKey, ['dummy'])).toBe("model 'dummy' is unknown");
    expect(withoutTenantKeys("model 'acme-prod-7f3k29dj-summaries' is unknown", isKey)).toBe("model 'acme-prod-7f3k29dj-summaries' is unknown");
  });
});

describe('withoutKeys and the gateway\'s own hints', () => {
  it('leaves the placeholder of "Authorization: Bearer <key>" as written (E61), and still hides a key glued after it', () => {
    const hint = 'invalid API key: check the key you send in "Authorization: Bearer <key>" or "x-api-key: <key>"';
    expect(withoutKeys(hint)).toBe(hint);
    expect(withoutKeys('Bearer <key>abc123secret')).toBe('Bearer (not shown)');
    expect(withoutKeys('Authorization: Bearer abc123secret')).toBe('Authorization: Bearer (not shown)');
  });
});

describe('withoutCutQuotes', () => {
  it('keeps 8 characters of a text quoted cut at 64, and any text quoted whole as it is', () => {
    const long = `acme-prod-${'0123456789'.repeat(7)}`;
    expect(withoutCutQuotes(`model ${quoteIdentifier(long)} is not served here`)).toBe("model 'acme-pro...' (cut) is not served here");
    expect(withoutCutQuotes(`model ${quoteIdentifier(long.slice(0, 64))} is not served here`)).toBe(`model '${long.slice(0, 64)}' is not served here`);
  });
});

describe('withoutTenantKeys on a long text', () => {
  it('looks up at most 256 words and pieces (each a SHA-256), and a word without punctuation once', () => {
    const looked: string[] = [];
    const isKey = (word: string): boolean => {
      looked.push(word);
      return false;
    };
    withoutTenantKeys(Array.from({ length: 1000 }, (_, index) => `word${String(index).padStart(5, '0')}`).join(' '), isKey);
    expect(looked).toHaveLength(256);
    looked.length = 0;
    withoutTenantKeys('plainword12 path/with/pieces12', isKey);
    expect(looked).toEqual(['plainword12', 'path/with/pieces12', 'pieces12']);
  });
});
