/**
 * A request body that lets go of its bytes once read: a one-shot iterable for undici, which keeps
 * the body it was given for the life of the request (minutes, for a streaming answer).
 */
export function releasingBody(bytes: Buffer): Iterable<Buffer> {
  let pending: Buffer | undefined = bytes;
  return {
    *[Symbol.iterator]() {
      const chunk = pending;
      pending = undefined;
      if (chunk !== undefined) yield chunk;
    },
  };
}
