import { describe, expect, it } from 'vitest';
import { restoredCallId, sentCallIds, takenBackId } from '../../src/protocol/tool-call-id.js';
import { toolCallIdPattern } from '../../src/protocol/tool-use.js';

/** Each id as a request of those ids sends it to an OpenAI-dialect upstream. */
const sent = (ids: readonly string[]): string[] => ids.map(sentCallIds(ids));

describe('tool call ids between upstreams and callers', () => {
  it('an id a caller can send back, of at most 40 characters, is kept as it is', () => {
    const ids = ['call_1', 'toolu_01A09q90qw90lq917835lq9', 'chatcmpl-tool-3f2a', `call_${'b'.repeat(35)}`];
    expect(ids.map(takenBackId)).toEqual(ids);
    expect(sent(ids)).toEqual(ids);
    expect([takenBackId(''), takenBackId(undefined), takenBackId(7)]).toEqual([undefined, undefined, undefined]);
  });

  it('an id of other characters is escaped, distinct from the id a replacement would make, and restored for an API that takes it (R43)', () => {
    const ids = ['functions.get_weather:0', 'functions_get_weather_0', 'a-b', 'a:b', 'a b', 'ü', 'sy-x', 'sy-2e'];
    const taken = ids.map((id) => takenBackId(id) ?? '');
    expect(taken).toEqual(['sy-functions-2eget_weather-3a0', 'functions_get_weather_0', 'a-b', 'sy-a-3ab', 'sy-a-20b', 'sy--c3-bc', 'sy-sy-2dx', 'sy-sy-2d2e']);
    expect(new Set(taken).size).toBe(ids.length);
    for (const id of taken) expect(id).toMatch(toolCallIdPattern);
    // Going back, each is the upstream's own id again.
    expect(sent(taken)).toEqual(ids);
  });

  it("a Kimi id of a long tool name is escaped up to what a caller may send back (256), and restored whole, however long (R44, R45)", () => {
    const kimi = 'functions.search_knowledge_base:10';
    expect(takenBackId(kimi)).toBe('sy-functions-2esearch_knowledge_base-3a10');
    expect(sent([takenBackId(kimi) ?? ''])).toEqual([kimi]);
    const longer = `functions.${'mcp__server__'.repeat(4)}lookup:3`;
    const escaped = takenBackId(longer) ?? '';
    expect(escaped).toMatch(toolCallIdPattern);
    // Restored it is over 40, which OpenAI would refuse of a caller's own id: it goes whole, as the upstream wrote it (R45).
    expect(sent([escaped, escaped])).toEqual([longer, longer]);
    // An escape over 256 characters is hashed as a long id is.
    expect(takenBackId(`functions.${'x'.repeat(250)}:1`)).toMatch(/^functions_x{21}_[0-9a-f]{8}$/);
  });

  it("a caller's own id that merely starts like an escaped one is sent as it is", () => {
    // An id takenBackId keeps (never escaped), not hex, upper-case hex, a lone '-', a '-' short of two digits, bytes that are no UTF-8, and a letter written escaped.
    for (const id of ['sy-zz', 'sy-a-2E', 'sy-a-', 'sy-a-2', 'sy-a-2gb', 'sy--ff', 'sy--61', 'sy-']) expect(restoredCallId(id)).toBe(id);
    expect(restoredCallId('sy-a-3ab')).toBe('a:b');
  });

  it('no control or format character is restored: a caller could write them in an escaped id, which no model wrote (R44)', () => {
    for (const id of ['sy--00', 'sy--0a-0d-1b', 'sy--7f', 'sy--e2-80-ae', 'sy--ef-bb-bf']) expect(restoredCallId(id)).toBe(id);
    // An upstream's id with one is escaped all the same, and goes back escaped.
    const taken = takenBackId('a\nb') ?? '';
    expect(taken).toBe('sy-a-0ab');
    expect(sent([taken])).toEqual([taken]);
  });

  it("an id whose restoring would make it another of the request's goes as the caller sent it, the others restored (R44: a caller's 'sy-abc' beside the escape of an upstream's; R45)", () => {
    expect(sent(['sy-sy-2dabc', 'sy-abc', 'sy-a-3ab'])).toEqual(['sy-sy-2dabc', 'sy-abc', 'a:b']);
    // Without the clash each is restored.
    expect(sent(['sy-sy-2dabc', 'sy-a-3ab'])).toEqual(['sy-abc', 'a:b']);
    // A chain: unrestoring one makes the next clash, which is unrestored in turn.
    expect(sent(['sy-abc', 'sy-sy-2dabc', 'sy-sy-2dsy-2d2dabc'])).toEqual(['sy-abc', 'sy-sy-2dabc', 'sy-sy-2dsy-2d2dabc']);
    expect(sent(['sy-sy-2dabc', 'sy-sy-2dsy-2d2dabc'])).toEqual(['sy-abc', 'sy-sy-2dabc']);
    // A call and its result are one id, not a clash.
    expect(sent(['sy-a-3ab', 'sy-a-3ab'])).toEqual(['a:b', 'a:b']);
  });

  it('ids with lone surrogates, which UTF-8 cannot carry, are hashed apart, not escaped alike (R45)', () => {
    const ids = ['f:\ud800', 'f:\udfff', 'f:\ufffd'].map((id) => takenBackId(id) ?? '');
    expect(ids[2]).toBe('sy-f-3a-ef-bf-bd');
    expect(ids[0]).toMatch(/^f___[0-9a-f]{8}$/);
    expect(new Set(ids).size).toBe(3);
  });

  it('an id longer than 40 characters keeps its start and ends with a hash of the whole id, never read back as an escaped one (R44)', () => {
    const long = takenBackId(`call_${'x'.repeat(50)}`) ?? '';
    expect(long).toMatch(/^call_x{26}_[0-9a-f]{8}$/);
    expect(takenBackId(`call_${'x'.repeat(51)}`)).not.toBe(long);
    // An id starting as escaped ones do, whose escape is over 256: its hashed form does not start so, so it is sent as it is.
    const hashed = takenBackId(`sy-a-2eb${'c'.repeat(260)}`) ?? '';
    expect(hashed).toMatch(/^sy_a-2ebc{23}_[0-9a-f]{8}$/);
    expect(restoredCallId(hashed)).toBe(hashed);
    // A caller's id over 40 (Anthropic takes up to 256) is shortened the same way for an OpenAI-dialect upstream.
    const anthropicId = `toolu_${'x'.repeat(60)}`;
    expect(sent([anthropicId])).toEqual([takenBackId(anthropicId)]);
    expect(sent([anthropicId])[0]).toMatch(/^toolu_x{25}_[0-9a-f]{8}$/);
  });
});
