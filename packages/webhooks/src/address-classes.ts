// Classification of IP addresses for the webhook guard. Webhook URLs come from users, so a
// request to them could otherwise reach the service's own network or a cloud metadata endpoint.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'metadata'
  | 'multicast'
  | 'reserved';

type Family = 'ipv4' | 'ipv6';
type Subnet = [network: string, prefix: number, family: Family];

// Special-purpose IPv4 and IPv6 ranges by class. Classes are checked in this order, so an
// exact metadata address wins over the link-local or CGNAT range that contains it.
const CLASS_SUBNETS: [AddressClass, Subnet[]][] = [
  [
    'metadata',
    [
      // AWS, GCP and Azure instance metadata.
      ['169.254.169.254', 32, 'ipv4'],
      // AWS instance metadata over IPv6.
      ['fd00:ec2::254', 128, 'ipv6'],
      // Alibaba Cloud instance metadata.
      ['100.100.100.200', 32, 'ipv4'],
    ],
  ],
  [
    'unspecified',
    [
      ['0.0.0.0', 8, 'ipv4'],
      ['::', 128, 'ipv6'],
    ],
  ],
  [
    'loopback',
    [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  ],
  [
    'private',
    [
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      // Unique local addresses.
      ['fc00::', 7, 'ipv6'],
    ],
  ],
  ['cgnat', [['100.64.0.0', 10, 'ipv4']]],
  [
    'link-local',
    [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ],
  ],
  [
    'multicast',
    [
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ],
  ],
  [
    'reserved',
    [
      ['192.0.0.0', 24, 'ipv4'],
      ['192.0.2.0', 24, 'ipv4'],
      ['192.88.99.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['198.51.100.0', 24, 'ipv4'],
      ['203.0.113.0', 24, 'ipv4'],
      // 240.0.0.0/4 includes the broadcast address 255.255.255.255.
      ['240.0.0.0', 4, 'ipv4'],
      // IPv4-compatible addresses (deprecated), discard-only, IETF protocol assignments
      // (Teredo among them), documentation and deprecated site-local addresses.
      ['::', 96, 'ipv6'],
      ['64:ff9b:1::', 48, 'ipv6'],
      ['100::', 64, 'ipv6'],
      ['2001::', 23, 'ipv6'],
      ['2001:db8::', 32, 'ipv6'],
      ['fec0::', 10, 'ipv6'],
    ],
  ],
];

const CLASS_LISTS: [AddressClass, BlockList][] = CLASS_SUBNETS.map(([addressClass, subnets]) => {
  const list = new BlockList();
  for (const [network, prefix, family] of subnets) list.addSubnet(network, prefix, family);
  return [addressClass, list];
});

// Global unicast IPv6 is 2000::/3, and everything outside it is reserved or special.
const GLOBAL_UNICAST_IPV6 = new BlockList();
GLOBAL_UNICAST_IPV6.addSubnet('2000::', 3, 'ipv6');

const IPV4_MAPPED_PREFIX = new BlockList();
IPV4_MAPPED_PREFIX.addSubnet('::ffff:0:0', 96, 'ipv6');

const NAT64_PREFIX = new BlockList();
NAT64_PREFIX.addSubnet('64:ff9b::', 96, 'ipv6');

const SIX_TO_FOUR_PREFIX = new BlockList();
SIX_TO_FOUR_PREFIX.addSubnet('2002::', 16, 'ipv6');

/**
 * Classifies a literal IPv4 or IPv6 address. IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4
 * (2002::/16) addresses are classified by the IPv4 address they embed. Raises on a string
 * that is not an IP address.
 */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');

  if (isIPv4(bare)) return classifyInList(bare, 'ipv4') ?? 'public';
  if (!isIPv6(bare)) throw new Error(`Not an IP address: '${address}'.`);

  const embedded = embeddedIpv4(bare);
  if (embedded !== null) return classifyAddress(embedded);

  const special = classifyInList(bare, 'ipv6');
  if (special !== null) return special;
  return GLOBAL_UNICAST_IPV6.check(bare, 'ipv6') ? 'public' : 'reserved';
}

function classifyInList(address: string, family: Family): AddressClass | null {
  for (const [addressClass, list] of CLASS_LISTS) {
    if (list.check(address, family)) return addressClass;
  }
  return null;
}

/** Returns the IPv4 address that an IPv4-mapped, NAT64 or 6to4 address embeds, or null for other addresses. */
function embeddedIpv4(address: string): string | null {
  const hextets = expandIpv6(address);
  if (IPV4_MAPPED_PREFIX.check(address, 'ipv6')) return hextetsToIpv4(hextets[6] ?? 0, hextets[7] ?? 0);
  if (NAT64_PREFIX.check(address, 'ipv6')) return hextetsToIpv4(hextets[6] ?? 0, hextets[7] ?? 0);
  if (SIX_TO_FOUR_PREFIX.check(address, 'ipv6')) return hextetsToIpv4(hextets[1] ?? 0, hextets[2] ?? 0);
  return null;
}

function hextetsToIpv4(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** Expands a valid IPv6 address to its eight 16-bit groups, converting a trailing dotted IPv4 part. */
export function expandIpv6(address: string): number[] {
  let text = address.toLowerCase();

  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }

  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');

  return [...headGroups, ...zeros, ...tailGroups].map((group) => Number.parseInt(group, 16));
}
