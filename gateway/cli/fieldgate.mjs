#!/usr/bin/env node
// `fieldgate` when run from a source checkout (npm link / npx): load TypeScript through tsx.
// The release bundle (npm run build) ships a plain JavaScript entry point instead.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
