import { imageMediaTypes, type ImageMediaType, type ImageSource } from './chat.js';

/** What an image reference must be, in the words both dialects' refusals use. */
export const imageRule = 'an image is an http(s) URL or a base64 data URL of a JPEG, PNG, GIF or WebP image (data:image/png;base64,...)';

/** Base64 text: checked in one linear pass (an image may be megabytes). */
const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whether `text` is a media type both APIs take. */
export function isImageMediaType(text: string): text is ImageMediaType {
  return (imageMediaTypes as readonly string[]).includes(text);
}

/** Whether `text` is base64 (the image data of a data URL or an Anthropic base64 source). */
export function isBase64(text: string): boolean {
  return text.length % 4 === 0 && base64.test(text);
}

/** Whether `text` is an http or https URL. */
export function isHttpUrl(text: string): boolean {
  if (!/^https?:\/\//i.test(text)) return false;
  try {
    new URL(text);
    return true;
  } catch {
    return false;
  }
}

/** An OpenAI image_url's url as a source: an http(s) URL, or a base64 data URL of a type both APIs take; undefined for anything else. */
export function imageSourceOf(url: string): ImageSource | undefined {
  if (isHttpUrl(url)) return { type: 'url', url };
  const comma = url.indexOf(',');
  const header = /^data:([a-z/]+);base64$/i.exec(url.slice(0, comma));
  const mediaType = header?.[1]?.toLowerCase();
  if (comma < 0 || mediaType === undefined || !isImageMediaType(mediaType)) return undefined;
  const data = url.slice(comma + 1);
  return isBase64(data) ? { type: 'base64', mediaType, data } : undefined;
}

/** A source as OpenAI's image_url takes it: the URL, or a data URL of the image. */
export function imageUrlOf(source: ImageSource): string {
  return source.type === 'url' ? source.url : `data:${source.mediaType};base64,${source.data}`;
}
