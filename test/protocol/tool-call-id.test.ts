import { describe, expect, it } from 'vitest';
import { restoredCallId, sentCallId, takenBackId } from '../../src/protocol/tool-call-id.js';
import { toolCallIdPattern } from '../../src/protocol/tool-use.js';

describe('tool call ids between upstreams and callers', () => {
  it('an id a caller can send back, of at most 40 characters, is kept as it is', () => {
    for (const id of ['call_1', 'toolu_01A09q90qw90lq917835lq9', 'chatcmpl-tool-3f2a', `call_${'b'.repeat(35)}`]) {
      expect(takenBackId(id)).toBe(id);
      expect(sentCallId(id)).toBe(id);
    }
    expect([takenBackId(''), takenBackId(undefined), takenBackId(7)]).toEqual([undefined, undefined, undefined]);
  });

  it('an id of other characters is escaped, distinct from the id a replacement would make, and restored for an API that takes it', () => {
    const ids = ['functions.get_weather:0', 'functions_get_weather_0', 'a-b', 'a:b', 'a b', 'ü', 'sy-x', 'sy-2e'];
    const taken = ids.map((id) => takenBackId(id) ?? '');
    expect(taken).toEqual(['sy-functions-2eget_weather-3a0', 'functions_get_weather_0', 'a-b', 'sy-a-3ab', 'sy-a-20b', 'sy--c3-bc', 'sy-sy-2dx', 'sy-sy-2d2e']);
    expect(new Set(taken).size).toBe(ids.length);
    for (const id of taken) expect(id).toMatch(toolCallIdPattern);
    // Going back, each is the upstream's own id again.
    expect(taken.map(sentCallId)).toEqual(ids);
  });

  it("a caller's own id that merely starts like an escaped one is sent as it is", () => {
    // An id takenBackId keeps (never escaped), not hex, upper-case hex, a lone '-', a '-' short of two digits, bytes that are no UTF-8, and a letter written escaped.
    for (const id of ['sy-zz', 'sy-a-2E', 'sy-a-', 'sy-a-2', 'sy-a-2gb', 'sy--ff', 'sy--61', 'sy-']) expect(restoredCallId(id)).toBe(id);
    expect(restoredCallId('sy-a-3ab')).toBe('a:b');
  });

  it('an id longer than 40 characters, as sent or escaped, keeps its start and ends with a hash of the whole id', () => {
    const escapedTooLong = `functions.get_current_weather_now:12`;
    const long = takenBackId(escapedTooLong) ?? '';
    expect(long).toMatch(/^functions_get_current_weather_n_[0-9a-f]{8}$/);
    expect(long.length).toBeLessThanOrEqual(40);
    expect(takenBackId(`${escapedTooLong}3`)).not.toBe(long);
    // A caller's id over 40 (Anthropic takes up to 256) is shortened the same way for an OpenAI-dialect upstream.
    const anthropicId = `toolu_${'x'.repeat(60)}`;
    expect(sentCallId(anthropicId)).toMatch(/^toolu_x{25}_[0-9a-f]{8}$/);
    expect(sentCallId(anthropicId)).toBe(takenBackId(anthropicId));
  });
});
