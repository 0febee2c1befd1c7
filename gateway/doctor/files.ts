import { checkConfigFiles } from '../config/files.ts';
import type { Check } from './types.ts';

// Certificates, keys, CAs and other files the config names: loaded and checked exactly as
// `fieldgate check` and `start` do (gateway/config/files.ts), one line per file.
export const files: Check = async (ctx) => {
  if (!ctx.config) return [];
  return checkConfigFiles(ctx.config).map((f) => ({
    check: 'files',
    status: f.status === 'error' ? ('fail' as const) : f.status,
    message: `${f.path} ${f.file}: ${f.message}`,
    fix: f.hint,
  }));
};
