/** Reads a response body to its end or until the connection breaks (a cut fault); never throws. */
export async function readUntilEnd(response: { readonly body: ReadableStream<Uint8Array> | null }): Promise<{ text: string; broken: boolean }> {
  const reader = response.body?.getReader();
  if (reader === undefined) return { text: '', broken: false };
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, broken: false };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, broken: true };
  }
}
