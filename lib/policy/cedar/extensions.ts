/**
 * Cedar's `decimal` and `ipaddr` extension types for the compiled evaluator.
 *
 * The parsers accept only what is certainly valid in Cedar and return undefined for everything else;
 * the caller then hands the request to cedar-wasm, which either accepts the odd form or reports the
 * error itself. So no string Cedar would refuse is ever accepted here, and no rule of Cedar's parser
 * has to be copied exactly.
 */

/** A decimal: an i64 holding the value times 10^4 (Cedar allows 1 to 4 fractional digits). */
export class Decimal {
  constructor(readonly scaled: bigint) {}
}

const DECIMAL = /^(-?)([0-9]{1,16})\.([0-9]{1,4})$/;
const I64_MAX = (1n << 63n) - 1n;

export function parseDecimal(text: string): Decimal | undefined {
  const m = DECIMAL.exec(text);
  if (m === null) return undefined;
  const magnitude = BigInt(m[2]!) * 10_000n + BigInt(m[3]!.padEnd(4, '0'));
  // The very edge of the i64 range is left to Cedar (its rounding there is not worth copying).
  if (magnitude >= I64_MAX) return undefined;
  return new Decimal(m[1] === '-' ? -magnitude : magnitude);
}

/** An IP address or CIDR range as Cedar keeps it: the address as written plus its prefix length. */
export class IpAddr {
  constructor(
    readonly v6: boolean,
    readonly addr: bigint,
    readonly prefix: number,
  ) {}

  equals(other: IpAddr): boolean {
    return this.v6 === other.v6 && this.addr === other.addr && this.prefix === other.prefix;
  }

  get bits(): number {
    return this.v6 ? 128 : 32;
  }

  /** First and last address of the range. */
  range(): [bigint, bigint] {
    const hostBits = BigInt(this.bits - this.prefix);
    const start = (this.addr >> hostBits) << hostBits;
    return [start, start + (1n << hostBits) - 1n];
  }

  /** Cedar's isInRange: this whole range lies inside `other` (never across address families). */
  isInRange(other: IpAddr): boolean {
    if (this.v6 !== other.v6) return false;
    const [start, end] = this.range();
    const [outerStart, outerEnd] = other.range();
    return start >= outerStart && end <= outerEnd;
  }
}

const LOOPBACK_V4 = new IpAddr(false, 0x7f000000n, 8);
const LOOPBACK_V6 = new IpAddr(true, 1n, 128);
const MULTICAST_V4 = new IpAddr(false, 0xe0000000n, 4);
const MULTICAST_V6 = new IpAddr(true, 0xffn << 120n, 8);

export function isLoopback(ip: IpAddr): boolean {
  return ip.isInRange(ip.v6 ? LOOPBACK_V6 : LOOPBACK_V4);
}

export function isMulticast(ip: IpAddr): boolean {
  return ip.isInRange(ip.v6 ? MULTICAST_V6 : MULTICAST_V4);
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

export function parseIp(text: string): IpAddr | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const v6 = address.includes(':');
  let prefix = v6 ? 128 : 32;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!PREFIX.test(p) || Number(p) > prefix) return undefined;
    prefix = Number(p);
  }
  const addr = v6 ? parseV6(address) : parseV4(address);
  return addr === undefined ? undefined : new IpAddr(v6, addr, prefix);
}

function parseV4(text: string): bigint | undefined {
  if (!IPV4.test(text)) return undefined;
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
}

/** Hex groups with at most one `::`; embedded IPv4 (which Cedar refuses) is left to Cedar. */
function parseV6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined): string[] | undefined => {
    if (half === undefined || half === '') return [];
    const parts = half.split(':');
    return parts.every((g) => HEX_GROUP.test(g)) ? parts : undefined;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (head === undefined || tail === undefined) return undefined;
  const written = head.length + tail.length;
  // `::` standing for a single group is legal but rare; parsers differ, so it is left to Cedar.
  if (halves.length === 1 ? written !== 8 : written > 6) return undefined;
  const all = [...head, ...Array<string>(8 - written).fill('0'), ...tail];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n);
}
