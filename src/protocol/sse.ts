import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** One server-sent event frame, exactly as written on the wire. */
export function sseFrame(data: string, event?: string): string {
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${data}\n\n`;
}

/**
 * Incremental SSE reader over text chunks (frames may split anywhere). An event, or a line, longer
 * than `maxEventChars` calls `onTooLarge` once and ends the reading: a stream that never ends a line
 * would otherwise be buffered without bound.
 */
export function createSseReader(onEvent: (message: EventSourceMessage) => void, maxEventChars: number, onTooLarge: () => void): { feed(chunk: string): void } {
  let stopped = false;
  const parser = createParser({
    onEvent,
    maxBufferSize: maxEventChars,
    onError: (error) => {
      if (error.type !== 'max-buffer-size-exceeded' || stopped) return;
      stopped = true;
      onTooLarge();
    },
  });
  return {
    feed: (chunk) => {
      if (!stopped) parser.feed(chunk);
    },
  };
}
