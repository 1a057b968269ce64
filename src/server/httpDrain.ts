import type http from 'node:http';
import net from 'node:net';

/**
 * How long a kept-alive socket must have been idle before a closing server closes it. A socket that
 * has just been answered may already carry its client's next request, not read yet (a busy event loop
 * reads it late): closing it would reset a request the client did send. After this long the client is
 * taken to have nothing more to send, the same bet Node's keep-alive timeout (5 s) makes.
 */
const IDLE_LINGER_MS = 1_000;
const SWEEP_INTERVAL_MS = 100;

interface Connection {
  /** Requests received on it and not yet answered. */
  busy: number;
  idleSince: number;
  /** Taken over by the WebSocket server, which closes it itself. */
  upgraded: boolean;
}

/**
 * Graceful close of an HTTP server whose clients keep connections alive. Node's `server.close()` stops
 * listening and at once closes every socket with no request in progress, which resets requests already
 * sent on them but not read yet; it keeps answering a busy keep-alive client for as long as that client
 * sends; and a handler whose client left keeps running after its socket closed.
 *
 * - From the moment `close` starts, every response not yet begun carries `Connection: close`: each
 *   keep-alive client leaves after the answer it is waiting for instead of sending more on this socket.
 * - Idle sockets are closed once idle for `IDLE_LINGER_MS`, so a request already on its way is read and
 *   answered (with `Connection: close`) rather than reset.
 * - `track` marks work that `close` waits for even when its client has already left (a request handler,
 *   a WebSocket operation), so none reaches a service stopped after the server (Apollo, the database).
 * - `close(graceMs)` resolves when every connection has closed and all tracked work has finished; after
 *   `graceMs` the connections left are cut.
 *
 * Construct it before the application's own 'request' listener is added, so it sees every response
 * first, even one written synchronously.
 */
export class HttpDrain {
  private closing = false;
  private readonly connections = new Map<net.Socket, Connection>();
  private readonly unanswered = new Set<http.ServerResponse>();
  private readonly work = new Set<Promise<unknown>>();

  constructor(private readonly server: http.Server) {
    server.on('connection', (socket: net.Socket) => {
      this.connections.set(socket, { busy: 0, idleSince: performance.now(), upgraded: false });
      socket.once('close', () => this.connections.delete(socket));
    });
    server.on('upgrade', (req: http.IncomingMessage) => {
      const connection = this.connections.get(req.socket);
      if (connection) connection.upgraded = true;
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const connection = this.connections.get(req.socket);
      if (connection) connection.busy++;
      if (this.closing) res.setHeader('Connection', 'close');
      else this.unanswered.add(res);
      res.once('close', () => {
        this.unanswered.delete(res);
        if (!connection) return;
        connection.busy--;
        connection.idleSince = performance.now();
      });
    });
  }

  /** Work `close` waits for: a request handler's run, a WebSocket operation. */
  track<T>(work: Promise<T>): Promise<T> {
    this.work.add(work);
    const forget = () => void this.work.delete(work);
    work.then(forget, forget);
    return work;
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    for (const res of this.unanswered) if (!res.headersSent) res.setHeader('Connection', 'close');
    // Stop listening. Not through http.Server#close, which would also close every idle socket at once.
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(this.server, () => resolve()));
    this.closeIdle();
    const sweep = setInterval(() => this.closeIdle(), SWEEP_INTERVAL_MS);
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<'time up'>((resolve) => (timer = setTimeout(() => resolve('time up'), graceMs)));
    if ((await Promise.race([Promise.all([closed, this.workDone()]), timeUp])) === 'time up') this.server.closeAllConnections();
    clearTimeout(timer);
    clearInterval(sweep);
    await closed;
  }

  private closeIdle(): void {
    const now = performance.now();
    for (const [socket, c] of this.connections) {
      if (!c.upgraded && c.busy === 0 && now - c.idleSince >= IDLE_LINGER_MS) socket.destroy();
    }
  }

  /** Resolves once no tracked work runs (a request arriving on a kept-alive socket may start some late). */
  private async workDone(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }
}
