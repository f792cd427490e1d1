// The guard between a user-supplied webhook URL and the network. It resolves the host name
// and rejects every address that is not public. It returns the address that it checked, and
// the request connects to exactly that address, so a second DNS answer cannot switch it.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { classifyAddress, type AddressClass } from './address-classes.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface AddressGuardOptions {
  /**
   * Allows loopback, private, link-local, CGNAT and reserved addresses, for tests and demos
   * with a local receiver. Metadata, multicast and unspecified addresses stay rejected.
   * @defaultValue false
   */
  allowPrivateAddresses?: boolean;
}

/** Raised when a webhook host resolves to an address the guard rejects. */
export class WebhookAddressRejectedError extends Error {
  readonly host: string;
  readonly address: string;
  readonly addressClass: AddressClass;

  constructor(host: string, address: string, addressClass: AddressClass) {
    super(`Webhook host '${host}' resolves to ${address}, a ${addressClass} address; only public addresses are allowed.`);
    this.name = 'WebhookAddressRejectedError';
    this.host = host;
    this.address = address;
    this.addressClass = addressClass;
  }
}

const ALWAYS_REJECTED: readonly AddressClass[] = ['metadata', 'multicast', 'unspecified'];

export function isAddressAllowed(addressClass: AddressClass, options: AddressGuardOptions = {}): boolean {
  if (addressClass === 'public') return true;
  if (ALWAYS_REJECTED.includes(addressClass)) return false;
  return options.allowPrivateAddresses === true;
}

/**
 * Resolves `host` (a name or an IP literal, IPv6 with or without brackets) and returns its
 * first address. Raises WebhookAddressRejectedError when any of its addresses is rejected,
 * because a name that also points inside the network is not a safe target.
 */
export async function resolveWebhookHost(host: string, options: AddressGuardOptions = {}): Promise<ResolvedAddress> {
  const bare = host.replace(/^\[|\]$/g, '');

  const literalFamily = isIP(bare);
  const candidates: ResolvedAddress[] =
    literalFamily === 0
      ? (await dnsLookup(bare, { all: true, verbatim: true })).map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }))
      : [{ address: bare, family: literalFamily === 6 ? 6 : 4 }];

  for (const candidate of candidates) {
    const addressClass = classifyAddress(candidate.address);
    if (!isAddressAllowed(addressClass, options)) throw new WebhookAddressRejectedError(bare, candidate.address, addressClass);
  }

  const first = candidates[0];
  if (first === undefined) throw new Error(`Webhook host '${bare}' has no addresses.`);
  return first;
}
