import { spawnSync } from 'node:child_process';

/**
 * Tests that need a system tool (mosquitto, coap-client, socat, openssl, qemu) call this. On a
 * developer machine without the tool the test is skipped with the reason and the apt package to
 * install; with FIELDGATE_REQUIRE_TOOLS=1 (set by .ci/run, which installs them) a missing tool is
 * a failure, so CI can never pass by skipping.
 */
export function missingTool(command: string, aptPackage: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
  if (found) return undefined;
  const reason = `${command} not found: install it with "apt-get install ${aptPackage}" to run this test`;
  if (process.env.FIELDGATE_REQUIRE_TOOLS === '1') throw new Error(`${reason} (FIELDGATE_REQUIRE_TOOLS=1 forbids skipping)`);
  return reason;
}
