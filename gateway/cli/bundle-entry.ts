// The release bundle's entry (deploy/build.ts builds lib/fieldgate.mjs from this file): it turns
// on V8's compile cache first (gateway/lifecycle/compile-cache.ts), then loads the CLI, so that
// every chunk behind this import is compiled through the cache. Running from sources (tsx) starts
// at main.ts directly.
import { enableCompileCache } from '../lifecycle/compile-cache.ts';

enableCompileCache();
await import('./main.ts');
