// `node --import ./forbid-modules.mjs`: every import of a bare specifier that starts with
// $FORBID_MODULES (comma-separated) fails, naming the module and who imported it.
import { register } from 'node:module';

register('./forbid-modules-hooks.mjs', import.meta.url, { data: { prefixes: (process.env.FORBID_MODULES ?? '').split(',').filter(Boolean) } });
