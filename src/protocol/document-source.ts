import type { DocumentSource } from './chat.js';
import { cleanBase64 } from './image-source.js';

/** A document read from a request: its source, or what is wrong with it, in words both dialects' refusals use. */
export type DocumentReading = { readonly ok: true; readonly source: DocumentSource } | { readonly ok: false; readonly problem: string };

/**
 * A base64 PDF (Anthropic's document source, OpenAI's file part): the data cleaned as an image's
 * is, and checked to be a PDF by its first bytes, since an upstream refuses one that is not. Its
 * pages are counted for estimates.
 */
export function readPdf(mediaType: string, data: string): DocumentReading {
  if (mediaType.toLowerCase() !== 'application/pdf') return { ok: false, problem: 'a base64 document must be a PDF (media_type application/pdf)' };
  const cleaned = cleanBase64(data);
  if (cleaned === undefined) return { ok: false, problem: 'the document data is not base64' };
  if (cleaned === '') return { ok: false, problem: 'the document data is empty' };
  const bytes = Buffer.from(cleaned, 'base64');
  if (bytes.subarray(0, 5).toString('latin1') !== '%PDF-') return { ok: false, problem: 'the document data is not a PDF (it does not begin with %PDF-)' };
  return { ok: true, source: { type: 'pdf', data: cleaned, pages: pdfPages(bytes) } };
}

/**
 * A PDF's pages, as its page objects count them (`/Type /Page`, not `/Pages`), at least 1: an
 * estimate (compressed object streams hide them), read without parsing the file.
 */
function pdfPages(bytes: Buffer): number {
  const matches = bytes.toString('latin1').match(/\/Type\s*\/Page(?![a-zA-Z])/g);
  return Math.max(1, matches?.length ?? 0);
}
