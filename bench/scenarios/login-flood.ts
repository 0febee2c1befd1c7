import { hashPassword } from '../../gateway/auth/password.ts';
import { startGateway } from '../../gateway/test/helpers.ts';
import { RawClient } from '../../gateway/test/raw-mqtt.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';

// Issue 17 item 5: FLOOD (default 2,000) wrong-password CONNECTs from 127.0.0.1, 20 at a time,
// against one in-process gateway, while a valid user logs in again and again from 127.0.0.2.
// The success cache is off (auth.login.cache_ttl 0), so every valid login pays a full scrypt: the
// worst case. Baseline: the same valid logins on the same gateway before the flood. Target: the
// valid login's latency under the flood within 100 ms of the baseline.

const FLOOD = Number(process.env.BENCH_LOGIN_FLOOD ?? 2000);

async function login(port: number, from: string, username: string, password: string): Promise<{ code: number; ms: number }> {
  const t = process.hrtime.bigint();
  const { client, code } = await RawClient.connect(port, { clientId: `${username}-${Math.random()}`, username, password }, from);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  client.destroy();
  return { code, ms };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const scenario: Scenario = {
  name: 'login-flood',
  description: `valid MQTT login latency while ${FLOOD} wrong-password CONNECTs arrive from one other address, against the same logins before the flood`,
  async run(): Promise<Result[]> {
    const g = await startGateway({
      auth: { allow_anonymous: 'never', login: { cache_ttl: '0ms' }, users: [{ username: 'alice', password_hash: await hashPassword('a') }, { username: 'bob', password_hash: await hashPassword('b') }] },
    });
    try {
      const idle: number[] = [];
      for (let i = 0; i < 15; i++) idle.push((await login(g.port, '127.0.0.2', 'bob', 'b')).ms);
      let sent = 0;
      let done = false;
      const flood = (async () => {
        while (sent < FLOOD) {
          const n = Math.min(20, FLOOD - sent);
          sent += n;
          await Promise.all(Array.from({ length: n }, () => login(g.port, '127.0.0.1', 'alice', `guess${sent}`)));
        }
        done = true;
      })();
      const loaded: number[] = [];
      while (!done) {
        const r = await login(g.port, '127.0.0.2', 'bob', 'b');
        if (r.code !== 0) throw new Error(`valid login refused with CONNACK ${r.code} during the flood`);
        loaded.push(r.ms);
      }
      await flood;
      const s = 'login-flood';
      const base = median(idle);
      return [
        withRatio({ scenario: s, metric: 'valid_login_ms_median_under_flood', value: Math.round(median(loaded) * 10) / 10, unit: 'ms', baseline: Math.round(base * 10) / 10 }),
        withRatio({ scenario: s, metric: 'valid_login_ms_max_under_flood', value: Math.round(Math.max(...loaded) * 10) / 10, unit: 'ms', baseline: Math.round(Math.max(...idle) * 10) / 10 }),
        // Target: under 100 ms (the added delay of the median valid login).
        { scenario: s, metric: 'valid_login_added_ms_median', value: Math.round((median(loaded) - base) * 10) / 10, unit: 'ms' },
        { scenario: s, metric: 'valid_logins_during_flood', value: loaded.length, unit: 'logins' },
        { scenario: s, metric: 'flood_scrypt_checks', value: g.gw.auth.logins.verifications - idle.length - loaded.length, unit: 'checks', baseline: FLOOD },
      ];
    } finally {
      await g.stop();
    }
  },
};
