import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/** knex ends a transaction with the simple-query message Q, length 12, "COMMIT;\0". */
const COMMIT_MESSAGE = Buffer.from([0x51, 0, 0, 0, 12, ...Buffer.from('COMMIT;'), 0]);

export type PostgresFault =
  /** The message reaches PostgreSQL (a COMMIT commits); the connection dies with its reply, both sides closed. */
  | 'drop-after'
  /** The connection dies, both sides closed, before the message is sent: PostgreSQL rolls the transaction back. */
  | 'drop-before'
  /**
   * The message never reaches PostgreSQL, and from then on nothing passes either way. The
   * connection is half-open both ways: the server side may die (a crash) without the client
   * learning of it, and a client that gives up (drops its socket) leaves the server's backend
   * running. `cut()` ends it, as a TCP timeout eventually would.
   */
  | 'hold-request'
  /** As 'hold-request', but the message reaches PostgreSQL (a COMMIT commits); its reply is held. */
  | 'hold-reply';

interface Armed {
  fault: PostgresFault;
  match: Buffer;
  fired: () => void;
}

/**
 * A TCP proxy in front of PostgreSQL that, once armed, applies one fault to the next connection
 * that sends a matching message (by default knex's COMMIT): a dropped connection (the lost reply a
 * client cannot tell apart from a crash of the server, or a connection lost before COMMIT), or a
 * held one (a COMMIT in flight while PostgreSQL crashes, a host crash, a middlebox dropping state).
 */
export class PostgresFaultProxy {
  private server: Server | undefined;
  private armed: Armed | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly held = new Set<{ client: Socket; server: Socket }>();
  /** The faults applied so far. */
  faults = 0;
  /** The database URL through the proxy (set by start()). */
  url = '';

  private constructor(private readonly upstream: URL) {}

  /** A started proxy in front of the server of `databaseUrl`; `url` is the same database through it. */
  static async inFrontOf(databaseUrl: string): Promise<PostgresFaultProxy> {
    const proxy = new PostgresFaultProxy(new URL(databaseUrl));
    await proxy.start();
    return proxy;
  }

  private async start(): Promise<void> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const viaProxy = new URL(this.upstream);
    viaProxy.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.url = viaProxy.toString();
  }

  /**
   * Arms one fault, applied to the next message that contains `match` (default: knex's COMMIT
   * message) on any connection not already faulted. Resolves once it has been applied.
   */
  arm(fault: PostgresFault, match: string | Buffer = COMMIT_MESSAGE): Promise<void> {
    return new Promise((fired) => (this.armed = { fault, match: Buffer.from(match), fired }));
  }

  /** Closes every held connection (both sides). */
  cut(): void {
    for (const { client, server } of this.held) {
      client.destroy();
      server.destroy();
    }
    this.held.clear();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.held.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pipe(client: Socket): void {
    const server = connect(Number(this.upstream.port || 5432), this.upstream.hostname);
    this.sockets.add(client).add(server);
    let state: 'open' | 'dropping-reply' | 'held' = 'open';
    const kill = () => {
      client.destroy();
      server.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      const armed = this.armed;
      if (armed && state === 'open' && chunk.includes(armed.match)) {
        this.armed = undefined;
        this.faults += 1;
        armed.fired();
        switch (armed.fault) {
          case 'drop-before':
            kill();
            return;
          case 'drop-after':
            state = 'dropping-reply'; // the server gets it; the client never hears back
            server.write(chunk);
            return;
          case 'hold-reply':
          case 'hold-request':
            state = 'held';
            this.held.add({ client, server });
            if (armed.fault === 'hold-reply') server.write(chunk);
            return;
        }
      }
      if (state !== 'held') server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (state === 'dropping-reply') kill();
      else if (state === 'open') client.write(chunk);
    });
    const close = (side: Socket) => () => {
      this.sockets.delete(side);
      // Held: neither side learns of the other's end (a half-open connection) until cut() or stop().
      if (state !== 'held') kill();
    };
    client.on('close', close(client)).on('error', close(client));
    server.on('close', close(server)).on('error', close(server));
  }
}
