import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** knex ends a transaction with the simple-query message Q, length 12, "COMMIT;\0". */
const COMMIT_MESSAGE = Buffer.from([0x51, 0, 0, 0, 12, ...Buffer.from('COMMIT;'), 0]);

export type DropMode =
  /** The COMMIT reaches PostgreSQL and commits; its reply is lost with the connection. */
  | 'after-commit'
  /** The connection dies before the COMMIT is sent: PostgreSQL rolls the transaction back. */
  | 'before-commit';

/**
 * A TCP proxy in front of PostgreSQL that, once armed, kills the next connection that sends a
 * COMMIT — the lost-reply failure a client cannot tell apart from a crash of the server.
 */
export class CommitDroppingProxy {
  private server: Server | undefined;
  private armed: DropMode | undefined;
  private readonly sockets = new Set<Socket>();
  dropped = 0;

  constructor(private readonly upstream: { host: string; port: number }) {}

  async start(): Promise<string> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  arm(mode: DropMode): void {
    this.armed = mode;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pipe(client: Socket): void {
    const server = connect(this.upstream.port, this.upstream.host);
    this.sockets.add(client).add(server);
    let swallowReplies = false;
    const kill = () => {
      client.destroy();
      server.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      const mode = this.armed;
      if (mode && chunk.includes(COMMIT_MESSAGE)) {
        this.armed = undefined;
        this.dropped += 1;
        if (mode === 'before-commit') {
          kill();
          return;
        }
        swallowReplies = true; // the server commits; the client never hears it
        server.write(chunk);
        return;
      }
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (swallowReplies) {
        kill();
        return;
      }
      client.write(chunk);
    });
    const close = () => {
      this.sockets.delete(client);
      this.sockets.delete(server);
      kill();
    };
    client.on('close', close).on('error', close);
    server.on('close', close).on('error', close);
  }
}
