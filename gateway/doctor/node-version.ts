import type { Check } from './types.ts';

// End of life of each Node.js LTS line (the Node.js release schedule). A gateway meant to run
// for years should be on a line that still gets security fixes.
const END_OF_LIFE: Record<number, string> = { 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30' };
export const MIN_MAJOR = 20;
const HOW = 'install Node.js 22 LTS (NodeSource\'s Debian repository, or the official linux-arm64 tarball unpacked under /usr/local); see docs/raspberry-pi.md';

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
