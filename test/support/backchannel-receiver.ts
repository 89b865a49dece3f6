/** A relying party's back-channel logout endpoint for tests (shared by the logout tests and the conformance logout plans). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Received {
  path: string;
  contentType: string;
  form: URLSearchParams;
  at: number;
}

/**
 * The relying parties' back-channel endpoints: a real HTTP server on 127.0.0.1 recording every
 * POST. `/hang` never answers, `/fail` answers 500, every other path 200.
 */
export class Receiver {
  readonly received: Received[] = [];
  private readonly open = new Set<ServerResponse>();
  private server: Server | undefined;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        this.received.push({
          path: request.url ?? '',
          contentType: request.headers['content-type'] ?? '',
          form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
          at: Date.now(),
        });
        if (request.url === '/hang') {
          this.open.add(response);
          return;
        }
        response.statusCode = request.url === '/fail' ? 500 : 200;
        response.setHeader('cache-control', 'no-store');
        response.end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** Waits until `count` POSTs match, or fails after `timeoutMs`. */
  async waitFor(match: (entry: Received) => boolean, count = 1, timeoutMs = 5000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.filter(match);
      if (found.length >= count) return found;
      if (Date.now() > deadline) throw new Error(`expected ${count} back-channel POSTs, got ${found.length}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    for (const response of this.open) response.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
