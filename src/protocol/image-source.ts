import { BlockList, isIP } from 'node:net';
import { imageMediaTypes, type ImageMediaType, type ImageSource } from './chat.js';

/** An image read from a request: its source, or what is wrong with it, in words both dialects' refusals use. */
export type ImageReading = { readonly ok: true; readonly source: ImageSource } | { readonly ok: false; readonly problem: string };

const kinds = 'JPEG, PNG, GIF or WebP';

/**
 * An OpenAI image_url's url: an http(s) URL (see readWebImage), or a base64 data URL of an
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
 * An http(s) image URL, which the upstream will fetch, as the WHATWG parser reads it: forwarded in
 * that form (`href`), so the upstream's parser cannot read another host out of it
 * (`http://example.com\@127.0.0.1/` is example.com here and 127.0.0.1 to Python's). A URL with
 * credentials is refused. One whose host is plainly not on the public internet (a local name, a
 * private, loopback, link-local, multicast or reserved address) is marked `local`: routing sends it
 * only to endpoints allowed to fetch such (imageUrls: any), since a self-hosted model server would
 * fetch it from inside its own network. A name that resolves to such an address is not caught
 * (no DNS lookup): give endpoints whose servers must never fetch URLs `imageUrls: none`.
 */
export function readWebImage(url: string): ImageReading {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, problem: 'the image URL is not a valid URL' };
  }
  if (parsed.username !== '' || parsed.password !== '') return { ok: false, problem: 'an image URL must not carry credentials (user:password@)' };
  const local = !isPublicHost(parsed.hostname.toLowerCase().replace(/\.+$/, ''));
  return { ok: true, source: { type: 'url', url: parsed.href, ...(local ? { local: true } : {}) } };
}

/**
 * A base64 image as both APIs take it: its media type read case-insensitively ('image/jpg' as
 * image/jpeg), its data without the line breaks some encoders wrap it in and padded to a whole
 * number of quads, and its type as its first bytes say, which wins over the label (Anthropic
 * refuses an image whose bytes are not of the type sent; OpenAI reads the bytes).
 */
export function readBase64Image(mediaType: string, data: string): ImageReading {
  const cleaned = cleanBase64(data);
  if (cleaned === undefined) return { ok: false, problem: 'the image data is not base64' };
  if (cleaned === '') return { ok: false, problem: 'the image data is empty' };
  const sniffed = sniffImageType(cleaned);
  if (sniffed !== undefined) return { ok: true, source: { type: 'base64', mediaType: sniffed, data: cleaned } };
  const declared = mediaType.toLowerCase() === 'image/jpg' ? 'image/jpeg' : mediaType.toLowerCase();
  if (!isImageMediaType(declared)) return { ok: false, problem: `the image type must be image/jpeg, image/png, image/gif or image/webp` };
  return { ok: false, problem: `the image data is not a ${kinds} image` };
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
 * Base64 text without ASCII whitespace, in the standard alphabet (URL-safe '-' and '_' read as
 * '+' and '/') and padded to a multiple of four, or undefined when it holds anything else. One
 * pass of char codes: an image may be megabytes.
 */
export function cleanBase64(text: string): string | undefined {
  const spaced = /[ \t\r\n]/.test(text) ? text.replace(/[ \t\r\n]+/g, '') : text;
  const compact = /[-_]/.test(spaced) ? spaced.replace(/-/g, '+').replace(/_/g, '/') : spaced;
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

/** The type an image's first bytes say it is (PNG, JPEG, GIF and WebP signatures), or undefined; fewer than 12 bytes are no image. */
function sniffImageType(base64: string): ImageMediaType | undefined {
  const head = Buffer.from(base64.slice(0, 16), 'base64');
  if (head.length < 12) return undefined;
  if (head.length >= 4 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47) return 'image/png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

/** Addresses not on the public internet (RFC 6890's special-purpose ranges that a fetch could reach). */
const nonPublic = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24],
  ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) nonPublic.addSubnet(network, prefix, 'ipv4');
// Unspecified and loopback, IPv4-compatible and -translated, discard, documentation, unique local,
// link-local, site-local, multicast; and the prefixes that embed an IPv4 address (NAT64, 6to4,
// Teredo), whatever address they embed: a fetch through them may land inside.
for (const [network, prefix] of [
  ['::', 96], ['::ffff:0:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 32], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) nonPublic.addSubnet(network, prefix, 'ipv6');

/** Whether a URL's host may be on the public internet: not a local name, nor a literal address of a special-purpose range. */
function isPublicHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const version = isIP(bare);
  // A name of one label (metadata, redis: reached through the search domain) or under a name kept
  // for local networks (RFC 6761, 8375; Kubernetes services; common home-router suffixes).
  if (version === 0 && (!bare.includes('.') || /(^|\.)(localhost|internal|local|home\.arpa|lan|svc|intranet|corp)$/.test(bare))) return false;
  if (version === 4) return isPublicIpv4(bare);
  if (version === 6) {
    // An IPv4 address mapped into IPv6 (::ffff:10.0.0.1, which the URL parser writes ::ffff:a00:1).
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(bare);
    if (mapped?.[1] !== undefined && mapped[2] !== undefined) {
      const high = parseInt(mapped[1], 16);
      const low = parseInt(mapped[2], 16);
      return isPublicIpv4(`${String(high >> 8)}.${String(high & 255)}.${String(low >> 8)}.${String(low & 255)}`);
    }
    if (isIP(bare.slice(7)) === 4 && bare.startsWith('::ffff:')) return isPublicIpv4(bare.slice(7));
    return !nonPublic.check(bare, 'ipv6');
  }
  return true;
}

function isPublicIpv4(address: string): boolean {
  return !nonPublic.check(address, 'ipv4');
}
