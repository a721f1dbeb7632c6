import { connect, type Socket } from 'node:net';
import { expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { singleEndpointConfig } from './helpers/fleet.js';

/**
 * A connection that never sends a request head holds a socket: anyone who can reach the port,
 * before any key is checked, could hold the gateway's files with them.
 */

function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.once('error', reject);
  });
}

const closed = (socket: Socket): Promise<number> => {
  const started = performance.now();
  return new Promise((resolve) => socket.once('close', () => resolve(performance.now() - started)));
};

it('a connection that sends nothing is closed after the first-request timeout; one that sent a request is kept alive', async () => {
  const gateway = createGateway({ config: singleEndpointConfig('http://127.0.0.1:9', 'sk-idle'), logger: false, firstRequestTimeoutMs: 200 });
  const url = await gateway.listen(0, '127.0.0.1');
  try {
    const silent = await open(url);
    const silentClosed = closed(silent);
    const talking = await open(url);
    let talkingClosed = false;
    talking.once('close', () => {
      talkingClosed = true;
    });
    const answered = new Promise<string>((resolve) => talking.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
    talking.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await answered).toMatch(/^HTTP\/1\.1 200/);
    expect(await silentClosed).toBeLessThan(5000);
    // Past the first-request timeout, the connection that asked stays for its keep-alive.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(talkingClosed).toBe(false);
    talking.destroy();
  } finally {
    await gateway.close();
  }
});

it('a first request whose head is not in by the first-request timeout gets a 408, counted, as a later one does', async () => {
  const gateway = createGateway({ config: singleEndpointConfig('http://127.0.0.1:9', 'sk-idle'), logger: false, firstRequestTimeoutMs: 200 });
  const url = await gateway.listen(0, '127.0.0.1');
  try {
    const slow = await open(url);
    const received: Buffer[] = [];
    slow.on('data', (chunk: Buffer) => received.push(chunk));
    const slowClosed = closed(slow);
    slow.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    expect(await slowClosed).toBeLessThan(5000);
    expect(Buffer.concat(received).toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*"the request was not received in full in time/);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^switchyard_requests_total\{[^}]*status="408"[^}]*\} 1$/m);
  } finally {
    await gateway.close();
  }
});
