import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/** knex ends a transaction with the simple-query message Q, length 12, "COMMIT;\0". */
const COMMIT_MESSAGE = Buffer.from([0x51, 0, 0, 0, 12, ...Buffer.from('COMMIT;'), 0]);

export type HoldMode =
  /** The COMMIT never reaches PostgreSQL: the transaction stays open (or dies with a crash). */
  | 'hold-request'
  /** The COMMIT reaches PostgreSQL and commits; its reply is held. */
  | 'hold-reply';

interface Held {
  client: Socket;
  server: Socket;
}

/**
 * A TCP proxy in front of PostgreSQL that, once armed, holds the next COMMIT (or its reply) and
 * keeps the client's connection open even if the server side dies — the way a client sees a
 * COMMIT in flight while PostgreSQL crashes and restarts. `cut()` then closes the held
 * connection, as a TCP timeout eventually would.
 */
export class CommitHoldingProxy {
  private server: Server | undefined;
  private armed: HoldMode | undefined;
  private readonly sockets = new Set<Socket>();
  private held: Held | undefined;
  private heldResolve: (() => void) | undefined;
  /** Resolves once a COMMIT (or its reply) is being held. */
  readonly holding: Promise<void>;

  constructor(private readonly upstream: { host: string; port: number }) {
    this.holding = new Promise((resolve) => (this.heldResolve = resolve));
  }

  async start(): Promise<string> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  arm(mode: HoldMode): void {
    this.armed = mode;
  }

  /** Closes the held connection (both sides). */
  cut(): void {
    this.held?.client.destroy();
    this.held?.server.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pipe(client: Socket): void {
    const server = connect(this.upstream.port, this.upstream.host);
    this.sockets.add(client).add(server);
    let holdingThis = false;
    client.on('data', (chunk: Buffer) => {
      const mode = this.armed;
      if (mode && !holdingThis && chunk.includes(COMMIT_MESSAGE)) {
        this.armed = undefined;
        holdingThis = true;
        this.held = { client, server };
        if (mode === 'hold-reply') server.write(chunk);
        this.heldResolve?.();
        return;
      }
      if (!holdingThis) server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!holdingThis) client.write(chunk);
    });
    const close = (side: 'client' | 'server') => () => {
      this.sockets.delete(side === 'client' ? client : server);
      // While held, neither side learns of the other's end (a half-open connection): the server
      // side may die (a crash) without the client learning of it, and a client that gives up on
      // the COMMIT (and drops its socket) leaves the server's backend running. cut() ends both.
      if (holdingThis) return;
      client.destroy();
      server.destroy();
    };
    client.on('close', close('client')).on('error', close('client'));
    server.on('close', close('server')).on('error', close('server'));
  }
}
