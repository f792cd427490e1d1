import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebhookAddressRejectedError, classifyAddress, isAddressAllowed, resolveWebhookHost, type AddressClass } from '../src/index.js';

// Only literal addresses are classified here, and no traffic is sent to them.
const CASES: [string, AddressClass][] = [
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['::1', 'loopback'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['10.1.2.3', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['fd12:3456::1', 'private'],
  ['::ffff:10.0.0.1', 'private'],
  ['169.254.1.1', 'link-local'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.254', 'cgnat'],
  ['169.254.169.254', 'metadata'],
  ['fd00:ec2::254', 'metadata'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['ff02::1', 'multicast'],
  ['0.0.0.0', 'unspecified'],
  ['::', 'unspecified'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['2001:db8::1', 'reserved'],
  ['100::1', 'reserved'],
  ['1::', 'reserved'],
  ['64:ff9b::a00:1', 'private'],
  ['2002:7f00:1::', 'loopback'],
  ['8.8.8.8', 'public'],
  ['172.32.0.1', 'public'],
  ['100.128.0.1', 'public'],
  ['2606:4700:4700::1111', 'public'],
  ['::ffff:8.8.8.8', 'public'],
  ['64:ff9b::808:808', 'public'],
  ['[2606:4700:4700::1111]', 'public'],
];

describe('webhook address guard', () => {
  for (const [address, expected] of CASES) {
    it(`classifies ${address} as ${expected}`, () => {
      assert.equal(classifyAddress(address), expected);
    });
  }

  it('rejects a non-address string', () => {
    assert.throws(() => classifyAddress('example.com'), /Not an IP address/);
  });

  it('allows only public addresses by default', () => {
    for (const addressClass of ['loopback', 'private', 'link-local', 'cgnat', 'metadata', 'multicast', 'reserved', 'unspecified'] as const) {
      assert.equal(isAddressAllowed(addressClass), false, addressClass);
    }
    assert.equal(isAddressAllowed('public'), true);
  });

  it('allows private classes when enabled', () => {
    const options = { allowPrivateAddresses: true };
    for (const addressClass of ['loopback', 'private', 'link-local', 'cgnat', 'reserved'] as const) {
      assert.equal(isAddressAllowed(addressClass, options), true, addressClass);
    }
    for (const addressClass of ['metadata', 'multicast', 'unspecified'] as const) {
      assert.equal(isAddressAllowed(addressClass, options), false, addressClass);
    }
  });

  it('rejects literal hosts without resolving', async () => {
    await assert.rejects(resolveWebhookHost('169.254.169.254'), WebhookAddressRejectedError);
    await assert.rejects(resolveWebhookHost('[::1]'), (error: WebhookAddressRejectedError) => error.addressClass === 'loopback');
    await assert.rejects(resolveWebhookHost('10.0.0.5', { allowPrivateAddresses: false }), /private address/);
  });

  it('rejects localhost after resolving it', async () => {
    await assert.rejects(resolveWebhookHost('localhost'), WebhookAddressRejectedError);
  });

  it('returns an allowed literal unchanged', async () => {
    assert.deepEqual(await resolveWebhookHost('127.0.0.1', { allowPrivateAddresses: true }), { address: '127.0.0.1', family: 4 });
    assert.deepEqual(await resolveWebhookHost('8.8.8.8'), { address: '8.8.8.8', family: 4 });
  });
});
