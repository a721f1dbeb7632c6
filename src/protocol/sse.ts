import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** One server-sent event frame, exactly as written on the wire. */
export function sseFrame(data: string, event?: string): string {
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${data}\n\n`;
}

/** Incremental SSE reader over text chunks (frames may split anywhere). */
export function createSseReader(onEvent: (message: EventSourceMessage) => void): { feed(chunk: string): void } {
  const parser = createParser({ onEvent });
  return { feed: (chunk) => parser.feed(chunk) };
}
