import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bridgeSchema } from './config.ts';
import { UpstreamRules } from './rules.ts';

const upstream = (more: Record<string, unknown>) => bridgeSchema.parse({ upstreams: [{ name: 'cloud', servers: ['mqtt://127.0.0.1:1883'], ...more }] }).upstreams[0];

describe('bridge rules', () => {
  it('forwards everything under fieldgate/{gatewayId}/ by default; first matching rule wins', () => {
    const r = new UpstreamRules(upstream({})!, 'gw1');
    const rule = r.match('sensors/t1')!;
    assert.equal(r.remoteTopic(rule, 'sensors/t1'), 'fieldgate/gw1/sensors/t1');
    assert.equal(r.match('$SYS/brokers'), undefined, '# does not take $ topics');
    const two = new UpstreamRules(upstream({ forward: [{ local: 'alarms/#', priority: 'high', remote: 'a/{gatewayId}/{topic}' }, { local: '#', qos: 0 }] })!, 'gw1');
    assert.equal(two.match('alarms/fire')!.lane, 'high');
    assert.equal(two.remoteTopic(two.match('alarms/fire')!, 'alarms/fire'), 'a/gw1/alarms/fire');
    assert.equal(two.match('x/y')!.qos, 0);
  });

  it('expands {clientid}, {prefix} and {gatewayId} in every template', () => {
    const r = new UpstreamRules(
      upstream({
        client_id: 'dev-{gatewayId}',
        prefix: 'devices/{clientid}',
        forward: [{ local: 'a/#', remote: '{clientid}/{gatewayId}/{topic}' }, { local: '#', remote: '{prefix}/messages/{topic}' }],
        downlink: [{ remote: 'c2d/{clientid}/#', local: 'from/{gatewayId}/{rest}' }],
      })!,
      'gw1',
    );
    assert.equal(r.clientId, 'dev-gw1');
    assert.equal(r.prefix, 'devices/dev-gw1');
    assert.equal(r.remoteTopic(r.match('a/b')!, 'a/b'), 'dev-gw1/gw1/a/b');
    assert.equal(r.remoteTopic(r.match('x')!, 'x'), 'devices/dev-gw1/messages/x');
    assert.equal(r.downlink[0]!.remote, 'c2d/dev-gw1/#');
    assert.deepEqual((r.localTopic('c2d/dev-gw1/valve') as { topic: string }).topic, 'from/gw1/valve');
  });

  it('maps downlinks with {rest} and {topic}, and refuses a local topic that is not valid', () => {
    const r = new UpstreamRules(upstream({ downlink: [{ remote: '{prefix}/cmd/#', local: 'cmd/{rest}' }, { remote: 'raw/+', local: '{topic}' }] })!, 'gw1');
    assert.deepEqual(r.localTopic('fieldgate/gw1/cmd/valve/open'), { topic: 'cmd/valve/open', rule: r.downlink[0] });
    assert.equal((r.localTopic('raw/x') as { topic: string }).topic, 'raw/x');
    assert.equal(r.localTopic('other/x'), undefined);
  });

  it('takes "$" in topics literally (no replacement patterns), uplink and downlink', () => {
    const r = new UpstreamRules(upstream({ downlink: [{ remote: 'c2d/#', local: 'cmd/{topic}/{rest}' }] })!, 'gw1');
    assert.equal((r.localTopic("c2d/x$&y$'z") as { topic: string }).topic, "cmd/c2d/x$&y$'z/x$&y$'z");
    const up = new UpstreamRules(upstream({})!, 'gw1');
    assert.equal(up.remoteTopic(up.match('dev/$&$`')!, 'dev/$&$`'), 'fieldgate/gw1/dev/$&$`');
  });

  it('validates the section: unique names, URL schemes, mTLS pairs, user properties need MQTT 5', () => {
    const bad = (doc: Record<string, unknown>) => assert.equal(bridgeSchema.safeParse(doc).success, false, JSON.stringify(doc));
    const u = { name: 'a', servers: ['mqtt://h:1'] };
    bad({ upstreams: [u, u] });
    bad({ upstreams: [{ ...u, servers: ['http://h'] }] });
    bad({ upstreams: [{ ...u, tls: { cert_file: '/c' } }] });
    bad({ upstreams: [{ ...u, protocol_version: 4, message_id: 'user_property' }] });
    bad({ queue: { policy: 'drop_newest' } });
    const ok = bridgeSchema.parse({ queue: { max_bytes: '64MB', ttl: '7d', sync_interval: '10ms' } });
    assert.equal(ok.queue.max_bytes, 64 * 1024 * 1024);
    assert.equal(ok.queue.ttl, 7 * 86_400_000);
    assert.deepEqual(ok.upstreams, [], 'no upstream: bridge off');
  });
});
