import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { estimatePromptTokens, estimateTokens, imageTokenEstimate, promptText, type ChatMessage } from '../../src/protocol/chat.js';
import { readBase64Image, readImageUrl } from '../../src/protocol/image-source.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { readRequest, refusalOf } from './read-request.js';

/** Images in user turns, in both dialects: read, written, and carried from one to the other. */

const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const photoUrl = 'https://example.com/cat.jpg';


const openai = (messages: unknown[]): Record<string, unknown> => ({ model: 'm', messages });
const anthropic = (messages: unknown[]): Record<string, unknown> => ({ model: 'm', max_tokens: 100, messages });

/** The canonical user turn both dialects read the examples below as. */
const shown: ChatMessage = {
  role: 'user',
  content: 'What is in these?\nAnd this one?',
  parts: [
    { type: 'text', text: 'What is in these?' },
    { type: 'image', source: { type: 'base64', mediaType: 'image/png', data: png } },
    { type: 'image', source: { type: 'url', url: photoUrl } },
    { type: 'text', text: 'And this one?' },
  ],
};

describe('OpenAI image_url parts', () => {
  const parts = [
    { type: 'text', text: 'What is in these?' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
    { type: 'image_url', image_url: { url: photoUrl } },
    { type: 'text', text: 'And this one?' },
  ];

  it('become canonical parts in order, the text joined as content; detail is kept', () => {
    expect(readRequest(openaiDialect, openai([{ role: 'user', content: parts }])).messages).toEqual([shown]);
    const detailed = readRequest(openaiDialect, openai([{ role: 'user', content: [{ type: 'image_url', image_url: { url: photoUrl, detail: 'low' } }] }])).messages[0];
    expect(detailed?.parts).toEqual([{ type: 'image', source: { type: 'url', url: photoUrl }, detail: 'low' }]);
    // A text-only array keeps no parts.
    expect(readRequest(openaiDialect, openai([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }])).messages[0]).toEqual({ role: 'user', content: 'hi' });
  });

  it.each([
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://example.com/a.png' } }] }], 'messages.0.content.0.image_url.url', 'an image is an http(s) URL or a base64 data URL of a JPEG, PNG, GIF or WebP image (data:image/png;base64,...)'],
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/bmp;base64,${Buffer.from('BM6\u0000\u0000\u0000\u0000\u0000\u0000\u00006\u0000\u0000\u0000').toString('base64')}` } }] }], 'messages.0.content.0.image_url.url', 'the image type must be image/jpeg, image/png, image/gif or image/webp'],
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,not base64!' } }] }], 'messages.0.content.0.image_url.url', 'the image data is not base64'],
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,' } }] }], 'messages.0.content.0.image_url.url', 'the image data is empty'],
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${Buffer.from('%PDF-1.7 not an image').toString('base64')}` } }] }], 'messages.0.content.0.image_url.url', 'the image data is not a JPEG, PNG, GIF or WebP image'],
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png,${png}` } }] }], 'messages.0.content.0.image_url.url', 'a data URL image must be base64-encoded: data:image/png;base64,...'],
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://user:secret@example.com/a.png' } }] }], 'messages.0.content.0.image_url.url', 'an image URL must not carry credentials (user:password@)'],
    [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: photoUrl, detail: 'ultra' } }] }], 'messages.0.content.0.image_url.detail', 'must be one of "auto", "low", "high"'],
    [[{ role: 'user', content: [{ type: 'image_url' }] }], 'messages.0.content.0.image_url', 'is required: {"url": "..."}, the image'],
    [[{ role: 'system', content: [{ type: 'image_url', image_url: { url: photoUrl } }] }, { role: 'user', content: 'hi' }], 'messages.0.content.0', 'image and file parts are allowed only in user messages'],
    [[{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: photoUrl } }] }], 'messages.1.content.1', 'image and file parts are allowed only in user messages'],
  ])('%j is refused at %s', (messages, param, text) => {
    expect(refusalOf(openaiDialect, openai(messages))).toEqual({ param, message: `${param}: ${text}` });
  });

  it('are written to OpenAI-dialect upstreams as read, and to Anthropic-dialect ones as image blocks', () => {
    const request = readRequest(openaiDialect, openai([{ role: 'user', content: parts }]));
    expect((openaiDialect.encodeRequest(request) as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: parts }]);
    expect((anthropicDialect.encodeRequest(request) as { messages: unknown[] }).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
          { type: 'image', source: { type: 'url', url: photoUrl } },
          { type: 'text', text: 'And this one?' },
        ],
      },
    ]);
  });
});

describe('Anthropic image blocks', () => {
  const blocks = [
    { type: 'text', text: 'What is in these?' },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
    { type: 'image', source: { type: 'url', url: photoUrl } },
    { type: 'text', text: 'And this one?', cache_control: { type: 'ephemeral' } },
  ];

  it('become the same canonical parts; a turn of an image alone says something', () => {
    // The cache breakpoint is kept on its block (see the prompt-caching tests).
    const cachedLast = [...(shown.parts ?? []).slice(0, -1), { type: 'text', text: 'And this one?', cache: {} }];
    expect(readRequest(anthropicDialect, anthropic([{ role: 'user', content: blocks }])).messages).toEqual([{ ...shown, parts: cachedLast }]);
    const alone = readRequest(anthropicDialect, anthropic([{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: photoUrl } }] }])).messages;
    expect(alone).toEqual([{ role: 'user', content: '', parts: [{ type: 'image', source: { type: 'url', url: photoUrl } }] }]);
  });

  it('after tool results, go with the text in the user message that follows them', () => {
    const messages = [
      { role: 'user', content: 'Take a picture' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'camera', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'taken' }, { type: 'image', source: { type: 'url', url: photoUrl } }, { type: 'text', text: 'Here it is' }] },
    ];
    const request = readRequest(anthropicDialect, { ...anthropic(messages), tools: [{ name: 'camera', input_schema: { type: 'object' } }] });
    expect(request.messages.slice(2)).toEqual([
      { role: 'tool', content: 'taken', toolCallId: 'toolu_1' },
      { role: 'user', content: 'Here it is', parts: [{ type: 'image', source: { type: 'url', url: photoUrl } }, { type: 'text', text: 'Here it is' }] },
    ]);
    // Written back as one user turn: the result first, then the image and the text.
    expect((anthropicDialect.encodeRequest(request) as { messages: unknown[] }).messages[2]).toEqual({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'taken' }, { type: 'image', source: { type: 'url', url: photoUrl } }, { type: 'text', text: 'Here it is' }],
    });
  });

  it.each([
    [[{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/tiff', data: Buffer.from('II*\u0000\u0008\u0000\u0000\u0000\u0000\u0000\u0000\u0000').toString('base64') } }] }], 'messages.0.content.0.source', 'the image type must be image/jpeg, image/png, image/gif or image/webp'],
    [[{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'a b c!' } }] }], 'messages.0.content.0.source', 'the image data is not base64'],
    [[{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: '' } }] }], 'messages.0.content.0.source', 'the image data is empty'],
    [[{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'file:///etc/passwd' } }] }], 'messages.0.content.0.source.url', 'url must be an http(s) URL'],
    [[{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }] }], 'messages.0.content.0.source.type', 'an image\'s source is {"type": "base64", "media_type": ..., "data": ...} or {"type": "url", "url": ...} (files uploaded to Anthropic are not supported by Switchyard)'],
    [[{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'image', source: { type: 'url', url: photoUrl } }] }], 'messages.1.content.0', 'image blocks are what the user shows the model: they belong in user turns'],
  ])('%j is refused at %s', (messages, param, text) => {
    expect(refusalOf(anthropicDialect, anthropic(messages))).toEqual({ param, message: `${param}: ${text}` });
  });

  it('are written to OpenAI-dialect upstreams as image_url parts (a data URL for a base64 image), and back to Anthropic-dialect ones as read', () => {
    const request = readRequest(anthropicDialect, anthropic([{ role: 'user', content: blocks }]));
    expect((openaiDialect.encodeRequest(request) as { messages: unknown[] }).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
          { type: 'image_url', image_url: { url: photoUrl } },
          { type: 'text', text: 'And this one?' },
        ],
      },
    ]);
    expect((anthropicDialect.encodeRequest(request) as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: blocks }]);
  });
});

describe('estimates', () => {
  it('count each image as imageTokenEstimate tokens; its bytes are not prompt text', () => {
    const request = readRequest(openaiDialect, openai([{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${Buffer.concat([Buffer.from(png, 'base64'), Buffer.alloc(30_000)]).toString('base64')}` } }] }]));
    expect(promptText(request)).toBe('What is this?');
    expect(estimatePromptTokens(request)).toBe(estimateTokens('What is this?') + imageTokenEstimate);
  });
});

describe('reading an image as clients send them', () => {
  const ok = { ok: true, source: { type: 'base64', mediaType: 'image/png', data: png } };

  it('a data URL: its header in any case, parameters before base64, image/jpg as image/jpeg, base64 wrapped in lines or unpadded', () => {
    expect(readImageUrl(`data:IMAGE/PNG;BASE64,${png}`)).toEqual(ok);
    expect(readImageUrl(`data:image/png;name=a.png;charset=utf-8;base64,${png}`)).toEqual(ok);
    // Python's encodebytes and MIME encoders wrap base64 every 76 characters.
    expect(readImageUrl(`data:image/png;base64,${png.slice(0, 40)}\r\n${png.slice(40)}\n`)).toEqual(ok);
    expect(readImageUrl(`data:image/png;base64,${png.replace(/=+$/, '')}`)).toEqual(ok);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0, 1]).toString('base64');
    expect(readImageUrl(`data:image/jpg;base64,${jpeg}`)).toEqual({ ok: true, source: { type: 'base64', mediaType: 'image/jpeg', data: jpeg } });
  });

  it('the type is what the bytes say, whatever the label: Anthropic refuses a mismatch, OpenAI reads the bytes', () => {
    expect(readBase64Image('image/jpeg', png)).toEqual(ok);
    expect(readBase64Image('application/octet-stream', png)).toEqual(ok);
    // Too short to be an image, whatever it starts with; URL-safe base64 read as standard.
    expect(readBase64Image('image/jpeg', '/9j/')).toEqual({ ok: false, problem: 'the image data is not a JPEG, PNG, GIF or WebP image' });
    const urlSafe = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xfb, 0xff, 0xfe, 0, 1, 2, 3, 4, 5, 6, 7, 8]).toString('base64');
    expect(urlSafe).toMatch(/[+/]/);
    expect(readBase64Image('image/jpeg', urlSafe.replace(/\+/g, '-').replace(/\//g, '_'))).toEqual({ ok: true, source: { type: 'base64', mediaType: 'image/jpeg', data: urlSafe } });
    const gif = Buffer.from('GIF89a\u0001\u0000\u0001\u0000\u0080\u0000\u0000\u0000').toString('base64');
    expect(readBase64Image('image/png', gif)).toEqual({ ok: true, source: { type: 'base64', mediaType: 'image/gif', data: gif } });
    const webp = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0, 0, 0, 0]), Buffer.from('WEBPVP8 ')]).toString('base64');
    expect(readBase64Image('image/png', webp)).toMatchObject({ ok: true, source: { mediaType: 'image/webp' } });
  });

  it('a URL passes as the WHATWG parser reads it; one whose host is plainly not public is marked local, for routing', () => {
    expect(readImageUrl('HTTPS://example.com/a.png')).toEqual({ ok: true, source: { type: 'url', url: 'https://example.com/a.png' } });
    expect(readImageUrl('https://8.8.8.8/a.png')).toEqual({ ok: true, source: { type: 'url', url: 'https://8.8.8.8/a.png' } });
    // Forwarded in the parsed form, so no other parser reads another host out of it.
    expect(readImageUrl('http://example.com\\@127.0.0.1/a.png')).toEqual({ ok: true, source: { type: 'url', url: 'http://example.com/@127.0.0.1/a.png' } });
    const local = [
      'http://localhost/a.png', 'http://localhost./a.png', 'http://127.1/a.png', 'http://2130706433/a', 'http://10.0.0.5/a.png', 'http://192.168.1.1/a.png', 'http://172.20.0.1/a.png',
      'http://224.0.0.1/a', 'http://255.255.255.255/a', 'http://[::1]/a.png', 'http://[::127.0.0.1]/a', 'http://[fd00::1]/a.png', 'http://[fec0::1]/a', 'http://[64:ff9b::a00:1]/a',
      'http://[::ffff:10.0.0.1]/a.png', 'http://[::ffff:0:7f00:1]/a', 'http://metadata.google.internal./a', 'http://0.0.0.0/a',
      // One-label names reach hosts through the search domain (a cloud's metadata server, a cluster's services).
      'http://metadata/computeMetadata/v1/', 'http://redis:6379/x', 'http://api.default.svc/a', 'http://router.home.arpa/a', 'http://nas.lan/a',
      'http://192.0.2.1/a', 'http://[2002:7f00:1::]/a', 'http://[64:ff9b:1::a00:1]/a', 'http://[2001:db8::1]/a',
    ];
    for (const url of local) expect(readImageUrl(url), url).toMatchObject({ ok: true, source: { local: true } });
    expect(readImageUrl('not a url')).toMatchObject({ ok: false });
  });
});
