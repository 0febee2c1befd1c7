// Where the status page's files are: `www/` beside this module in a checkout (gateway/http/www),
// and beside the bundle in a release (lib/www, copied by deploy/build.ts). Kept in a module that
// sits next to www/ so the same relative URL works in both.
export const WWW = new URL('./www/', import.meta.url);
