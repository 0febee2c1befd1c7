import type { Check } from './types.ts';

// End of life of each Node.js LTS line (the Node.js release schedule). A gateway meant to run
// for years should be on a line that still gets security fixes.
const END_OF_LIFE: Record<number, string> = { 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30' };
export const MIN_MAJOR = 20;
// The official tarball's name for this machine (Node.js names armv7l where process.arch says arm).
const TARBALL: Record<string, string> = { arm64: 'linux-arm64', arm: 'linux-armv7l', x64: 'linux-x64', ppc64: 'linux-ppc64le', s390x: 'linux-s390x' };
export function installHint(arch: string = process.arch): string {
  const tarball = TARBALL[arch];
  return `install Node.js 22 LTS (NodeSource's Debian repository${tarball ? `, or the official ${tarball} tarball unpacked under /usr/local` : ''}); see docs/raspberry-pi.md`;
}
const HOW = installHint();

export function nodeVersionFinding(version: string, now: Date) {
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  if (!(major >= MIN_MAJOR)) {
    return { check: 'node', status: 'fail' as const, message: `Node.js ${version} is too old; fieldgate needs ${MIN_MAJOR} or newer`, fix: HOW };
  }
  const eol = END_OF_LIFE[major];
  if (major % 2 === 1) {
    return { check: 'node', status: 'warn' as const, message: `Node.js ${version} is not an LTS line (odd majors get fixes for months, not years)`, fix: HOW };
  }
  if (eol && now.getTime() > Date.parse(eol)) {
    return { check: 'node', status: 'warn' as const, message: `Node.js ${version} works but its line reached end of life on ${eol} (no more security fixes)`, fix: HOW };
  }
  return { check: 'node', status: 'ok' as const, message: `Node.js ${version}${eol ? ` (supported until ${eol})` : ''}` };
}

export const nodeVersion: Check = async () => [nodeVersionFinding(process.version, new Date())];
