// Checks of a submitted webhook URL that need no network access. Job resources echo the URL in
// every response, so credentials in it would leak, and a literal internal address would only
// fail at delivery. Host names are not resolved here: the worker checks the resolved addresses
// when it delivers.
import { isIP } from 'node:net';
import { ParamsError } from '@centroid/contracts';
import { classifyAddress, isAddressAllowed, type AddressClass } from '@centroid/webhooks';

const FIELD = 'webhook.url';

/**
 * Raises a ParamsError on `webhook.url` when `url` contains a user name or password, or when
 * its host is an IP address or `localhost` name that delivery would reject. Loopback, private, link-local, CGNAT
 * and reserved addresses pass when `allowPrivateAddresses` is true, but metadata, multicast and
 * unspecified addresses never do, as at delivery.
 */
export function checkWebhookUrl(url: string, allowPrivateAddresses: boolean): void {
  const parsed = new URL(url);

  if (parsed.username !== '' || parsed.password !== '') {
    throw new ParamsError([
      {
        field: FIELD,
        message: 'must not contain a user name or password, because job resources show the URL. Put a secret in the path or query string instead.',
      },
    ]);
  }

  // The URL parser normalises IPv4 forms such as 0x7f.1 or 2130706433 to dotted decimal,
  // and keeps IPv6 addresses in brackets.
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  let addressClass: AddressClass;
  if (isIP(host) !== 0) addressClass = classifyAddress(host);
  // RFC 6761 reserves localhost and its subdomains for loopback, so no lookup is needed.
  else if (host === 'localhost' || host.endsWith('.localhost')) addressClass = 'loopback';
  else return;

  if (isAddressAllowed(addressClass, { allowPrivateAddresses })) return;

  const allowedWithPrivate = isAddressAllowed(addressClass, { allowPrivateAddresses: true });
  const remedy = allowedWithPrivate
    ? 'Use a public host, or start the API and the worker with CENTROID_WEBHOOK_ALLOW_PRIVATE=1 for a local receiver.'
    : 'Use a public host.';
  throw new ParamsError([{ field: FIELD, message: `host ${host} is a ${addressClass} address, and webhooks are sent only to public addresses. ${remedy}` }]);
}
