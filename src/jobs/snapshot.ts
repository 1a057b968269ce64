/**
 * A Postgres snapshot (`pg_current_snapshot()::text`, "xmin:xmax:xip,…") and the question it answers:
 * were the effects of transaction `xid` already visible to the read that took it?
 */
export class Snapshot {
  private constructor(
    private readonly xmin: bigint,
    private readonly xmax: bigint,
    private readonly inProgress: ReadonlySet<bigint>,
  ) {}

  static parse(text: string): Snapshot {
    const [xmin, xmax, xip] = text.split(':');
    return new Snapshot(BigInt(xmin), BigInt(xmax), new Set((xip ? xip.split(',') : []).map(BigInt)));
  }

  sees(xid: string): boolean {
    const x = BigInt(xid);
    return x < this.xmin || (x < this.xmax && !this.inProgress.has(x));
  }
}
