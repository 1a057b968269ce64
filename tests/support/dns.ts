import dns2 from 'dns2';
import { gql, type GqlOptions } from './server.js';

const { Packet } = dns2;

/**
 * A real DNS server on the loopback (dns2, UDP, random port) that answers TXT queries from a table the
 * test fills, the way a tenant's DNS provider would serve its verification record. Start the API with
 * `DNS_SERVERS: dns.address` and `verifyDomain` asks it through `node:dns` like any other resolver.
 */
export interface TestDnsServer {
  /** `127.0.0.1:<port>`, for DNS_SERVERS. */
  readonly address: string;
  /** Serves `value` as one more TXT record of `name`. */
  publish(name: string, value: string): void;
  /** `name` has no record any more (NXDOMAIN). */
  unpublish(name: string): void;
  /** Names asked for, in order (lower case). */
  readonly queries: string[];
  close(): Promise<void>;
}

export async function startDnsServer(): Promise<TestDnsServer> {
  const records = new Map<string, string[]>();
  const queries: string[] = [];
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = question.name.toLowerCase();
      queries.push(name);
      const values = question.type === Packet.TYPE.TXT ? records.get(name) : undefined;
      if (!records.has(name)) response.header.rcode = Packet.RCODE.NXDOMAIN;
      for (const data of values ?? []) response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 0, data }));
      void send(response);
    },
  });
  const { udp } = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return {
    address: `127.0.0.1:${udp!.port}`,
    publish: (name, value) => records.set(name.toLowerCase(), [...(records.get(name.toLowerCase()) ?? []), value]),
    unpublish: (name) => records.delete(name.toLowerCase()),
    queries,
    close: () => server.close(),
  };
}

export const ADD_DOMAIN = `mutation($hostname: String!, $isPrimary: Boolean) { addDomain(hostname: $hostname, isPrimary: $isPrimary) {
  id hostname isPrimary isActive verified verificationRecord { type name value expiresAt } } }`;
export const VERIFY_DOMAIN = `mutation($id: ID!) { verifyDomain(id: $id) { id hostname isPrimary isActive verified verificationRecord { name } } }`;

/** A custom domain through the real flow: claimed, its TXT record published on `dns`, verified. Returns its id. */
export async function verifiedDomain(server: { url: string }, dns: TestDnsServer, as: GqlOptions, hostname: string, isPrimary = false): Promise<string> {
  const added = await gql(server, ADD_DOMAIN, { hostname, isPrimary }, as);
  const claim = added.body.data?.addDomain;
  if (!claim) throw new Error(`addDomain ${hostname} failed: ${JSON.stringify(added.body)}`);
  dns.publish(claim.verificationRecord.name, claim.verificationRecord.value);
  const verified = await gql(server, VERIFY_DOMAIN, { id: claim.id }, as);
  if (!verified.body.data?.verifyDomain?.verified) throw new Error(`verifyDomain ${hostname} failed: ${JSON.stringify(verified.body)}`);
  return claim.id;
}
