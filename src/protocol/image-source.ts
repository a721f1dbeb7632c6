import { isIP } from 'node:net';
import { imageMediaTypes, type ImageMediaType, type ImageSource } from './chat.js';

/** An image read from a request: its source, or what is wrong with it, in words both dialects' refusals use. */
export type ImageReading = { readonly ok: true; readonly source: ImageSource } | { readonly ok: false; readonly problem: string };

const kinds = 'JPEG, PNG, GIF or WebP';

/**
 * An OpenAI image_url's url: an http(s) URL on the public internet, or a base64 data URL of an
 * image (`data:image/png;base64,...`; other parameters before `base64` are allowed, as data URLs
 * allow them).
 */
export function readImageUrl(url: string): ImageReading {
  if (/^https?:\/\//i.test(url)) return readWebImage(url);
  if (!/^data:/i.test(url)) return { ok: false, problem: `an image is an http(s) URL or a base64 data URL of a ${kinds} image (data:image/png;base64,...)` };
  const comma = url.indexOf(',');
  const parameters = url.slice(5, comma < 0 ? url.length : comma).split(';');
  if (comma < 0 || parameters.at(-1)?.toLowerCase() !== 'base64') return { ok: false, problem: 'a data URL image must be base64-encoded: data:image/png;base64,...' };
  return readBase64Image(parameters[0] ?? '', url.slice(comma + 1));
}

/**
 * An http(s) image URL, which the upstream will fetch: refused when its host is plainly not on
 * the public internet (localhost, a private, loopback or link-local address, a `.internal` name),
 * since a self-hosted model server would fetch it from inside its own network. A name that
 * resolves to such an address is not caught here (no DNS lookup): mark endpoints whose servers
 * must never fetch URLs `imageUrls: false`.
 */
export function readWebImage(url: string): ImageReading {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return { ok: false, problem: 'the image URL is not a valid URL' };
  }
  if (!isPublicHost(host)) return { ok: false, problem: 'an image URL must point at the public internet, not at a local, private or internal address' };
  return { ok: true, source: { type: 'url', url } };
}

/**
 * A base64 image as both APIs take it: its media type read case-insensitively ('image/jpg' as
 * image/jpeg), its data without the line breaks some encoders wrap it in and padded to a whole
 * number of quads, and its type as its first bytes say, which wins over the label (Anthropic
 * refuses an image whose bytes are not of the type sent; OpenAI reads the bytes).
 */
export function readBase64Image(mediaType: string, data: string): ImageReading {
  const declared = mediaType.toLowerCase() === 'image/jpg' ? 'image/jpeg' : mediaType.toLowerCase();
  if (!isImageMediaType(declared)) return { ok: false, problem: `the image type must be image/jpeg, image/png, image/gif or image/webp` };
  const cleaned = cleanBase64(data);
  if (cleaned === undefined) return { ok: false, problem: 'the image data is not base64' };
  if (cleaned === '') return { ok: false, problem: 'the image data is empty' };
  const sniffed = sniffImageType(cleaned);
  if (sniffed === undefined) return { ok: false, problem: `the image data is not a ${kinds} image` };
  return { ok: true, source: { type: 'base64', mediaType: sniffed, data: cleaned } };
}

/** A source as OpenAI's image_url takes it: the URL, or a data URL of the image. */
export function imageUrlOf(source: ImageSource): string {
  return source.type === 'url' ? source.url : `data:${source.mediaType};base64,${source.data}`;
}

/** Whether `text` is a media type both APIs take. */
function isImageMediaType(text: string): text is ImageMediaType {
  return (imageMediaTypes as readonly string[]).includes(text);
}

/**
 * Base64 text without ASCII whitespace and padded to a multiple of four, or undefined when it
 * holds anything else. One pass of char codes: an image may be megabytes.
 */
function cleanBase64(text: string): string | undefined {
  const compact = /[ \t\r\n]/.test(text) ? text.replace(/[ \t\r\n]+/g, '') : text;
  let end = compact.length;
  while (end > 0 && compact.charCodeAt(end - 1) === 61 /* = */) end -= 1;
  if (compact.length - end > 2) return undefined;
  for (let index = 0; index < end; index += 1) {
    const code = compact.charCodeAt(index);
    const letterOrDigit = (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code >= 48 && code <= 57);
    if (!letterOrDigit && code !== 43 /* + */ && code !== 47 /* / */) return undefined;
  }
  const body = compact.slice(0, end);
  if (body.length % 4 === 1) return undefined;
  return body.length % 4 === 0 ? body : body + '='.repeat(4 - (body.length % 4));
}

/** The type an image's first bytes say it is (PNG, JPEG, GIF and WebP signatures), or undefined. */
function sniffImageType(base64: string): ImageMediaType | undefined {
  const head = Buffer.from(base64.slice(0, 16), 'base64');
  if (head.length >= 4 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47) return 'image/png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

/** Whether a URL's host may be on the public internet: not a local name, nor a literal private, loopback or link-local address. */
function isPublicHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare.endsWith('.localhost') || bare.endsWith('.internal') || bare.endsWith('.local')) return false;
  const version = isIP(bare);
  if (version === 4) return isPublicIpv4(bare);
  if (version === 6) {
    // An IPv4 address mapped into IPv6 (::ffff:10.0.0.1, which the URL parser writes ::ffff:a00:1).
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(bare);
    if (mapped?.[1] !== undefined && mapped[2] !== undefined) {
      const high = parseInt(mapped[1], 16);
      const low = parseInt(mapped[2], 16);
      return isPublicIpv4(`${String(high >> 8)}.${String(high & 255)}.${String(low >> 8)}.${String(low & 255)}`);
    }
    if (bare.startsWith('::ffff:')) return isPublicIpv4(bare.slice(7));
    // Unspecified, loopback, unique local (fc00::/7), link-local (fe80::/10).
    return !(bare === '::' || bare === '::1' || /^f[cd]/.test(bare) || /^fe[89ab]/.test(bare));
  }
  return true;
}

function isPublicIpv4(address: string): boolean {
  const [a = 0, b = 0] = address.split('.').map(Number);
  return !(a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127));
}
