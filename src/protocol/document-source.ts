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

/** Bytes a compressed page takes at least, about: what a PDF whose page objects are hidden is counted by. */
const bytesPerHiddenPage = 20_000;

const pageMarker = Buffer.from('/Page');

/**
 * Whether '/Type' stands right before `at`, with at most 8 PDF whitespace bytes between: a page
 * object's type, not a reference to one. Compared byte by byte in those few bytes only (a search
 * back through the file, or a Buffer per hit, would make a file of bare markers slow).
 */
function typedAt(bytes: Buffer, at: number): boolean {
  let end = at - 1;
  for (let spaces = 0; end >= 0 && spaces < 8 && isPdfSpace(bytes[end] ?? 0); spaces += 1) end -= 1;
  return end >= 4 && bytes[end - 4] === 0x2f && bytes[end - 3] === 0x54 && bytes[end - 2] === 0x79 && bytes[end - 1] === 0x70 && bytes[end] === 0x65;
}

function isPdfSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09 || byte === 0x0c || byte === 0x00;
}

/**
 * A PDF's pages, read without parsing the file: its page objects (`/Type /Page`, not `/Pages`). PDF
 * 1.5 and later may keep them in compressed object streams (`/ObjStm`): such a file is counted at
 * least a page per 20 KB, so an estimate never takes a long document for one page. An estimate, as
 * an image's is. Scanned with Buffer.indexOf (native), not a regular expression over a string copy
 * of the file: a 32 MiB PDF must not hold the event loop.
 */
function pdfPages(bytes: Buffer): number {
  let pageObjects = 0;
  for (let at = bytes.indexOf(pageMarker); at >= 0; at = bytes.indexOf(pageMarker, at + pageMarker.length)) {
    const next = bytes[at + pageMarker.length] ?? 0;
    const letter = (next >= 0x41 && next <= 0x5a) || (next >= 0x61 && next <= 0x7a);
    // '/Type' right before, with at most a few spaces between: a page object's type, not a reference to one.
    if (!letter && typedAt(bytes, at)) pageObjects += 1;
  }
  // Only where no page object shows: a file with visible pages and a photo is not counted by its size.
  const hidden = pageObjects === 0 && bytes.includes('/ObjStm') ? Math.ceil(bytes.length / bytesPerHiddenPage) : 0;
  return Math.max(1, pageObjects, hidden);
}
