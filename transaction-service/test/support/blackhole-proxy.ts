import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * Review harness: a TCP proxy in front of PostgreSQL that, once armed, black-holes one
 * connection as soon as the client sends a message containing `needle` (e.g. "COMMIT;" or the
 * batch's write statement). Mode 'request': the message never reaches the server. Mode 'reply':
 * it reaches the server, but nothing the server sends back reaches the client. Either way the
 * client's socket stays open even when the server side dies (a half-open TCP connection, as after
 * a host crash or a middlebox that drops state): the client never learns anything.
 */
export class BlackholeProxy {
  private server: Server | undefined;
  private armed: { needle: Buffer; mode: 'request' | 'reply' } | undefined;
  private readonly sockets = new Set<Socket>();
  holes = 0;

  constructor(private readonly upstream: { host: string; port: number }) {}

  async start(): Promise<string> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  arm(needle: string, mode: 'request' | 'reply'): void {
    this.armed = { needle: Buffer.from(needle), mode };
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pipe(client: Socket): void {
    const server = connect(this.upstream.port, this.upstream.host);
    this.sockets.add(client).add(server);
    let hole = false;
    client.on('data', (chunk: Buffer) => {
      const armed = this.armed;
      if (armed && !hole && chunk.includes(armed.needle)) {
        this.armed = undefined;
        hole = true;
        this.holes += 1;
        if (armed.mode === 'reply') server.write(chunk);
        return;
      }
      if (!hole) server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!hole) client.write(chunk);
    });
    const close = () => {
      if (hole) return; // half-open both ways: neither side learns of the other's end
      client.destroy();
      server.destroy();
    };
    client.on('close', close).on('error', close);
    server.on('close', close).on('error', close);
  }
}
