/**
 * Runs a printed `curl` line the way a POSIX shell and curl would, through fetch:
 * single-quoted words (with '\'' for an embedded quote), -H headers, -d body
 * (which makes it a POST). Anything else in the line is an error, so a line the
 * helper does not understand fails the test instead of passing by accident.
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i] ?? '';
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${line}`);
      current = (current ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      current = (current ?? '') + (line[i + 1] ?? '');
      i += 1;
    } else if (c === ' ' || c === '\t') {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else if ('"$`;&|<>(){}*?'.includes(c)) {
      throw new Error(`unquoted shell metacharacter ${c} in: ${line}`);
    } else {
      current = (current ?? '') + c;
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

export function curlToFetch(line: string): Promise<Response> {
  const [command, ...args] = shellWords(line);
  if (command !== 'curl') throw new Error(`not a curl line: ${line}`);
  let url: string | undefined;
  let body: string | undefined;
  const headers = new Headers();
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === '-sS' || arg === '-s' || arg === '-S') continue;
    if (arg === '-H') {
      const header = args[(i += 1)] ?? '';
      const colon = header.indexOf(':');
      if (colon < 1) throw new Error(`bad header ${header}`);
      headers.append(header.slice(0, colon).trim(), header.slice(colon + 1).trim());
    } else if (arg === '-d') {
      body = args[(i += 1)];
    } else if (arg.startsWith('-')) {
      throw new Error(`unexpected curl flag ${arg}`);
    } else if (url === undefined) {
      url = arg;
    } else {
      throw new Error(`second URL ${arg}`);
    }
  }
  if (url === undefined) throw new Error(`no URL in: ${line}`);
  // curl -d defaults the content type to form data; the printed line must set JSON itself.
  if (body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
  return fetch(url, { method: body === undefined ? 'GET' : 'POST', headers, ...(body === undefined ? {} : { body }) });
}
