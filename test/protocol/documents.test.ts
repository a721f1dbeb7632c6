import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { estimatePromptTokens, pdfPageTokenEstimate, type ChatRequest } from '../../src/protocol/chat.js';
import { readPdf } from '../../src/protocol/document-source.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';

// PDFs and text documents shown to the model: Anthropic document blocks and OpenAI file parts,
// translated both ways, their pages counted for estimates.

/** A two-page PDF, as small as a PDF gets. */
const twoPages = Buffer.from('%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [3 0 R 4 0 R] /Count 2>> endobj\n3 0 obj <</Type /Page /Parent 2 0 R>> endobj\n4 0 obj <</Type/Page/Parent 2 0 R>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n').toString('base64');

function parsed(dialect: typeof anthropicDialect, body: unknown): ChatRequest {
  const result = dialect.parseRequest(body);
  if (!result.ok) throw new Error(result.problem.message);
  return result.value;
}

function problem(dialect: typeof anthropicDialect, body: unknown): string {
  const result = dialect.parseRequest(body);
  return result.ok ? 'accepted' : `${result.problem.param ?? ''}: ${result.problem.message}`;
}

const pdfBlock = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: twoPages }, title: 'plan.pdf' };
const anthropicAsk = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: [pdfBlock, { type: 'text', text: 'Summarise it.' }] }] };

describe('reading PDFs', () => {
  it('counts pages by their page objects, at least one; refuses what is not a PDF, saying why', () => {
    expect(readPdf('application/pdf', twoPages)).toEqual({ ok: true, source: { type: 'pdf', data: twoPages, pages: 2 } });
    expect(readPdf('application/pdf', Buffer.from('%PDF-1.7\n%%EOF').toString('base64'))).toMatchObject({ ok: true, source: { pages: 1 } });
    // PDF 1.5 and later may hide its page objects in compressed object streams: counted a page per 20 KB then.
    const compressed = Buffer.concat([Buffer.from('%PDF-1.7\n1 0 obj <</Type /ObjStm /N 40 /Length 100000>> stream\n'), Buffer.alloc(100_000, 0x78), Buffer.from('\nendstream endobj\n%%EOF\n')]);
    expect(readPdf('application/pdf', compressed.toString('base64'))).toMatchObject({ ok: true, source: { pages: 6 } });
    // With page objects in sight, the size counts for nothing (a photo in a two-page file is no page).
    const photo = Buffer.concat([Buffer.from('%PDF-1.7\n<</Type /Page>> <</Type/Page>> <</Type /ObjStm>> stream\n'), Buffer.alloc(400_000, 0x78), Buffer.from('\n%%EOF\n')]);
    expect(readPdf('application/pdf', photo.toString('base64'))).toMatchObject({ ok: true, source: { pages: 2 } });
    // A reference to a page, or the page tree, is no page.
    expect(readPdf('application/pdf', Buffer.from('%PDF-1.4\n<</Type /Pages /Kids [3 0 R] /Count 1>> <</Parent 2 0 R /Page 3>>\n%%EOF').toString('base64'))).toMatchObject({ ok: true, source: { pages: 1 } });
    expect(readPdf('application/pdf', Buffer.from('<html>').toString('base64'))).toEqual({ ok: false, problem: 'the document data is not a PDF (it does not begin with %PDF-)' });
    expect(readPdf('text/plain', twoPages)).toMatchObject({ ok: false, problem: expect.stringContaining('must be a PDF') });
    expect(readPdf('application/pdf', 'not base64!')).toMatchObject({ ok: false, problem: 'the document data is not base64' });
  });
});

describe('an Anthropic caller\'s documents', () => {
  it('a PDF and a text document become document parts, estimated by pages and by text', () => {
    const request = parsed(anthropicDialect, anthropicAsk);
    expect(request.messages[0]?.parts?.[0]).toEqual({ type: 'document', source: { type: 'pdf', data: twoPages, pages: 2 }, title: 'plan.pdf' });
    expect(estimatePromptTokens(request)).toBeGreaterThanOrEqual(2 * pdfPageTokenEstimate);
    const text = parsed(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'The fleet has 3 pools.' }, context: 'from the wiki' }, { type: 'text', text: 'How many pools?' }] }] });
    expect(text.messages[0]?.parts?.[0]).toEqual({ type: 'document', source: { type: 'text', text: 'The fleet has 3 pools.' }, context: 'from the wiki' });
  });

  it('go back as document blocks to an Anthropic-dialect upstream, and as file parts (a text one as text) to an OpenAI-dialect one', () => {
    const request = parsed(anthropicDialect, anthropicAsk);
    expect((anthropicDialect.encodeRequest(request) as { messages: unknown[] }).messages[0]).toEqual({ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: twoPages }, title: 'plan.pdf' }, { type: 'text', text: 'Summarise it.' }] });
    expect((openaiDialect.encodeRequest(request) as { messages: unknown[] }).messages[0]).toEqual({ role: 'user', content: [{ type: 'file', file: { filename: 'plan.pdf', file_data: `data:application/pdf;base64,${twoPages}` } }, { type: 'text', text: 'Summarise it.' }] });
    const text = parsed(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: 'Three pools.' }, title: 'Fleet' }, { type: 'text', text: 'How many?' }] }] });
    expect((openaiDialect.encodeRequest(text) as { messages: unknown[] }).messages[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'Fleet\n\nThree pools.' }, { type: 'text', text: 'How many?' }] });
  });

  it("a document's context, what the caller wants the model to know of it, reaches an OpenAI-dialect upstream as text, and counts in estimates", () => {
    const text = parsed(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: 'Three pools.' }, title: 'Fleet', context: 'From the 2026 wiki.' }, { type: 'text', text: 'How many?' }] }] });
    expect((openaiDialect.encodeRequest(text) as { messages: unknown[] }).messages[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'Fleet\n\nFrom the 2026 wiki.\n\nThree pools.' }, { type: 'text', text: 'How many?' }] });
    const pdf = parsed(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ ...pdfBlock, context: 'The signed version.' }, { type: 'text', text: 'Summarise it.' }] }] });
    expect((openaiDialect.encodeRequest(pdf) as { messages: unknown[] }).messages[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'The signed version.' }, { type: 'file', file: { filename: 'plan.pdf', file_data: `data:application/pdf;base64,${twoPages}` } }, { type: 'text', text: 'Summarise it.' }] });
    expect((anthropicDialect.encodeRequest(pdf) as { messages: unknown[] }).messages[0]).toMatchObject({ content: [{ type: 'document', title: 'plan.pdf', context: 'The signed version.' }, { type: 'text' }] });
    // A long context is prompt like any other text.
    const long = 'x'.repeat(40_000);
    const withLong = parsed(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ ...pdfBlock, context: long }, { type: 'text', text: 'Summarise it.' }] }] });
    expect(estimatePromptTokens(withLong) - estimatePromptTokens(parsed(anthropicDialect, anthropicAsk))).toBeGreaterThanOrEqual(10_000);
  });

  it('a PDF a tool returned stays in the result for Anthropic, and follows the results for OpenAI', () => {
    const request = parsed(anthropicDialect, {
      ...anthropicAsk,
      tools: [{ name: 'read_file', input_schema: { type: 'object' } }],
      messages: [
        { role: 'user', content: 'Read plan.pdf' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'read_file', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [pdfBlock] }] },
      ],
    });
    expect((anthropicDialect.encodeRequest(request) as { messages: unknown[] }).messages[2]).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: twoPages }, title: 'plan.pdf' }] }] });
    expect((openaiDialect.encodeRequest(request) as { messages: unknown[] }).messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'toolu_1', content: '' },
      { role: 'user', content: [{ type: 'text', text: 'Returned by tool call toolu_1:' }, { type: 'file', file: { filename: 'plan.pdf', file_data: `data:application/pdf;base64,${twoPages}` } }] },
    ]);
  });

  it('refuses what it cannot carry, naming the field: citations, URL and file sources, data that is no PDF, a document in an assistant turn', () => {
    expect(problem(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ ...pdfBlock, citations: { enabled: true } }] }] })).toMatch(/^messages\.0\.content\.0\.citations: .*citations are not supported by Switchyard/);
    expect(problem(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }] }] })).toMatch(/^messages\.0\.content\.0\.source\.type: .*URL, content and file sources are not supported/);
    expect(problem(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: Buffer.from('hello').toString('base64') } }] }] })).toBe('messages.0.content.0.source: messages.0.content.0.source: the document data is not a PDF (it does not begin with %PDF-)');
    expect(problem(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [pdfBlock] }, { role: 'user', content: 'well?' }] })).toMatch(/^messages\.1\.content\.0: .*document blocks are what the user shows the model/);
    // Citations asked off are no citations.
    expect(problem(anthropicDialect, { ...anthropicAsk, messages: [{ role: 'user', content: [{ ...pdfBlock, citations: { enabled: false } }] }] })).toBe('accepted');
  });
});

describe("an OpenAI caller's file parts", () => {
  const ask = (file: object): object => ({ model: 'm', messages: [{ role: 'user', content: [{ type: 'file', file }, { type: 'text', text: 'Summarise it.' }] }] });

  it('a PDF as a data URL is a document, its filename its title, written back the same way', () => {
    const request = parsed(openaiDialect, ask({ filename: 'plan.pdf', file_data: `data:application/pdf;base64,${twoPages}` }));
    expect(request.messages[0]?.parts?.[0]).toEqual({ type: 'document', source: { type: 'pdf', data: twoPages, pages: 2 }, title: 'plan.pdf' });
    expect((openaiDialect.encodeRequest(request) as { messages: unknown[] }).messages[0]).toEqual({ role: 'user', content: [{ type: 'file', file: { filename: 'plan.pdf', file_data: `data:application/pdf;base64,${twoPages}` } }, { type: 'text', text: 'Summarise it.' }] });
    expect((anthropicDialect.encodeRequest(request) as { messages: unknown[] }).messages[0]).toMatchObject({ content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf' }, title: 'plan.pdf' }, { type: 'text' }] });
  });

  it('refuses an uploaded file (file_id) and a file that is no PDF, naming the field', () => {
    expect(problem(openaiDialect, ask({ file_id: 'file-abc' }))).toMatch(/^messages\.0\.content\.0\.file\.file_data: .*files uploaded to OpenAI \(file_id\) are not supported/);
    expect(problem(openaiDialect, ask({ file_data: `data:text/csv;base64,${Buffer.from('a,b').toString('base64')}` }))).toMatch(/must be a PDF/);
  });
});
