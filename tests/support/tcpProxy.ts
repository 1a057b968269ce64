import net from 'node:net';

export interface TcpProxy {
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  /** The database goes away: open connections are cut, new ones refused. */
  stop(): Promise<void>;
  /** The database is back, on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP forwarder on 127.0.0.1 in front of the test Postgres: stopping it is, for a server connected
 * through it, the database going away (sockets reset, connections refused), with no other test
 * file's database affected.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let listener: net.Server | undefined;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      listener = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      listener.once('error', reject);
      listener.listen(port, '127.0.0.1', () => {
        port = (listener!.address() as net.AddressInfo).port;
        resolve();
      });
    });

  const stop = async () => {
    const closed = new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
    for (const s of sockets) s.resetAndDestroy();
    await closed;
    listener = undefined;
  };

  await listen();
  return {
    via: (url) => {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    stop,
    start: listen,
    close: stop,
  };
}
