import { expect } from 'chai';
import { Cluster } from 'ioredis';
import { ConfigError, loadConfig } from '../../shared/config';
import { queuePrefix } from '../../shared/queues';
import { createRedis } from '../../shared/redis';

const base = { NODE_ENV: 'test', ADMIN_API_KEY: 'test_admin_0123456789abcdef', ENCRYPTION_KEY: 'ab'.repeat(32) };

describe('Redis configuration: one Redis or a cluster', () => {
  it('when REDIS_CLUSTER_NODES is unset, then the one Redis at REDIS_URL is used', () => {
    const config = loadConfig({ ...base, REDIS_URL: 'redis://10.0.0.5:6380' });
    expect(config.redisUrl).to.equal('redis://10.0.0.5:6380');
    expect(config.redisCluster).to.equal(null);
  });

  it('when REDIS_CLUSTER_NODES lists nodes, then they and REDIS_PASSWORD select a cluster', () => {
    const config = loadConfig({ ...base, REDIS_CLUSTER_NODES: 'redis-a:7000, 10.0.0.2:7001,[::1]:7002', REDIS_PASSWORD: 's3cret' });
    expect(config.redisCluster).to.deep.equal({
      nodes: [
        { host: 'redis-a', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      password: 's3cret',
    });
    const client = createRedis(config, 'producer', { lazyConnect: true });
    try {
      expect(client).to.be.instanceOf(Cluster);
    } finally {
      client.disconnect();
    }
  });

  for (const bad of ['redis-a', 'redis-a:port', 'redis-a:70000', 'redis://redis-a:7000', 'a:7000,,b:7001']) {
    it(`when REDIS_CLUSTER_NODES is "${bad}", then boot stops with a readable error`, () => {
      expect(() => loadConfig({ ...base, REDIS_CLUSTER_NODES: bad })).to.throw(ConfigError, /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/);
    });
  }

  it('when on a cluster, then each queue has its own hash tag; on one Redis, the prefix stays as it was', () => {
    expect(queuePrefix('senderz', 'sending', true)).to.equal('{senderz:sending}');
    expect(queuePrefix('senderz', 'dispatch', true)).to.equal('{senderz:dispatch}');
    expect(queuePrefix('senderz', 'sending', false)).to.equal('senderz');
  });
});
