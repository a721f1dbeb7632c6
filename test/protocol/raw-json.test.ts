import { describe, expect, it } from 'vitest';
import { parseKeepsNumbers, RawJson, stringifyJson } from '../../src/protocol/raw-json.js';

describe('JSON text written as it is', () => {
  it('is written into a body in place, as often as it appears, the rest of the body as JSON.stringify writes it', () => {
    const input = '{"id":1234567890123456789, "x":1e400}';
    const body = { content: [{ type: 'tool_use', input: new RawJson(input) }, { type: 'tool_use', input: new RawJson('{"n":-0}') }], text: 'a "quoted" \u2028 line' };
    expect(stringifyJson(body)).toBe(`{"content":[{"type":"tool_use","input":${input}},{"type":"tool_use","input":{"n":-0}}],"text":${JSON.stringify(body.text)}}`);
    // Without one, what JSON.stringify writes.
    const plain = { a: [1, 'two'], b: { c: null } };
    expect(stringifyJson(plain)).toBe(JSON.stringify(plain));
  });

  it('holds texts of any length, and writes a lone surrogate as its escape (raw, UTF-8 would make it U+FFFD), a pair as it is (R22)', () => {
    // A file a tool writes: one string of 9 million characters, and one of 3 million escapes; numbers after them are still judged.
    const file = `{"path":"a.txt","content":"${'x'.repeat(9_000_000)}","mode":1.0}`;
    const escapes = `{"content":"${'\\"'.repeat(3_000_000)}","n":1}`;
    expect([parseKeepsNumbers(file), parseKeepsNumbers(escapes)]).toEqual([false, true]);
    expect(stringifyJson({ input: new RawJson(file) })).toBe(`{"input":${file}}`);
    expect(stringifyJson({ input: new RawJson('{"s":"\ud800 \udc00 \ud83d\ude00","n":1.0}') })).toBe('{"input":{"s":"\\ud800 \\udc00 \ud83d\ude00","n":1.0}}');
  });

  it('a toJSON that writes a body of its own inside one leaves the outer body whole (R23)', () => {
    const inner = { toJSON: (): string => stringifyJson({ c: new RawJson('{"x":2.0}') }) };
    expect(stringifyJson({ a: new RawJson('{"x":1.0}'), b: inner, d: new RawJson('{"x":3.0}') })).toBe(`{"a":{"x":1.0},"b":${JSON.stringify('{"c":{"x":2.0}}')},"d":{"x":3.0}}`);
  });

  it('tells numbers a parse writes again otherwise: beyond a double, -0, or written otherwise than JavaScript writes them', () => {
    for (const kept of ['{}', '{"a":1,"b":0.5,"c":-3,"d":1e-7,"e":"1234567890123456789 1.0"}', '{"a":[9007199254740991]}']) expect([kept, parseKeepsNumbers(kept)]).toEqual([kept, true]);
    for (const changed of ['{"a":9007199254740993}', '{"a":1e400}', '{"a":-0}', '{"a":1.0}', '{"a":1e9}', '{"a":1E5}', '{"a":0.10}']) expect([changed, parseKeepsNumbers(changed)]).toEqual([changed, false]);
  });
});
