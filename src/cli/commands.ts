import type { Command, Flags } from './command.js';

/**
 * Every command of the `inlet` CLI, one definition each: help, flag parsing and dispatch are
 * generated from these (see command.ts). To add a command, add an entry here whose `run`
 * imports its implementation lazily, so `inlet --help` loads none of them.
 */

const BROKER: Flags = {
  broker: { type: 'string', value: 'URL', description: 'the broker, e.g. http://127.0.0.1:8080', default: '$INLET_BROKER, else http://127.0.0.1:8080' },
  token: { type: 'string', value: 'TOKEN', description: 'bearer token for a broker run with --auth-keys (inlet token create)', default: '$INLET_TOKEN' },
};
const SELECTOR: Flags = {
  selector: { type: 'string', short: 'l', value: 'SELECTOR', description: 'journals whose labels match, e.g. "carrier in (UPS,DHL)"' },
};
const QUIET: Flags = { quiet: { type: 'boolean', short: 'q', description: 'no progress line and no summary' } };
const SELECTORS_HELP = 'Selectors: a=b, c!=d, e in (x,y), f notin (z), g (has label), !h (lacks label), comma-separated.';

const serve: Command = {
  name: 'serve',
  summary: 'run the broker',
  usage: '[flags]',
  description: 'Every setting reads from its flag, its INLET_* variable or the YAML file of --config; flags win over env, env over the file.',
  flags: async () => (await import('./serve.js')).serveFlags(),
  run: async (a) => (await import('./serve.js')).serve(a),
};

const develop: Command = {
  name: 'develop',
  summary: "a development broker serving a catalog's collections",
  usage: '--source CATALOG [serve flags]',
  description:
    'Runs a broker on the embedded default store (./data, lake in ./data/lake) with the catalog\'s collections:\n' +
    'POST /ingest writes them, the stream API reads them. Fragments reach the lake every minute\n' +
    '(--flush-interval) and when it stops (Ctrl-C). Materializations run too; for a PostgreSQL endpoint\n' +
    'on localhost with nothing listening, develop starts PostgreSQL itself (data in <data dir>/postgres,\n' +
    'kept) and stops it at Ctrl-C.',
  flags: async () => (await import('./develop.js')).developFlags(),
  run: async (a) => (await import('./develop.js')).develop(a),
};

const runtime: Command = {
  name: 'runtime',
  summary: "run a catalog's derivations and materializations against a broker",
  usage: '--catalog FILE [--data-dir DIR] [--port N] [--settle] [--broker URL]',
  description:
    'Runs every derivation and materialization of the catalog in this process, reading and publishing\n' +
    "through the broker's HTTP API (inlet serve --catalog runs them beside the broker instead). Registers\n" +
    'live in DIR/derive (default ./data); --port serves GET /v1/derivations, /v1/materializations and\n' +
    '/metrics. A materialization that fails for good (another process took it over, an incompatible\n' +
    'table) ends the process with exit 1.',
  flags: {
    catalog: { type: 'string', value: 'FILE', description: 'the catalog (required)' },
    'data-dir': { type: 'string', value: 'DIR', description: 'where registers and built modules live', default: './data' },
    port: { type: 'string', value: 'N', description: 'serve status and metrics on this port (0: any free port)' },
    settle: { type: 'boolean', description: 'stop once every derivation and materialization has caught up with its sources; exit 1 if one failed' },
    'txn-ms': { type: 'string', value: 'MS', description: 'longest a transaction stays open', default: '1000' },
    'snapshot-bytes': { type: 'string', value: 'SIZE', description: "snapshot a derivation's registers once its recovery log grew by SIZE and 2 × the last snapshot", default: '64MiB' },
    ...BROKER,
  },
  run: async (a) => (await import('./derive.js')).runtime(a),
};

const derivations: Command = {
  name: 'derivations',
  summary: 'derivations a broker or runtime runs',
  subcommands: [
    {
      name: 'status',
      summary: 'per derivation: state, documents read and published, lag per source, last error',
      usage: '[--json] [--broker URL]',
      flags: { json: { type: 'boolean', description: 'print JSON' }, ...BROKER },
      run: async (a) => (await import('./derive.js')).status(a),
    },
  ],
};

const generate: Command = {
  name: 'generate',
  summary: "write a catalog's TypeScript types (inlet/modules), a tsconfig and stub modules",
  usage: '--source CATALOG',
  description:
    'Writes inlet_generated/ beside the catalog: the module inlet/modules (namespaces anchors, collections,\n' +
    'registers and interfaces, as Flow 2021 generated flow/modules), and a tsconfig.json so editors resolve it\n' +
    '(tsconfig.json beside the catalog, unless one exists). Installs npmDependencies (cached in ~/.cache/inlet).\n' +
    'Each derivation with TypeScript lambdas gets a stub module (NAME.flow.ts beside NAME.flow.yaml) if it has\n' +
    'none. serve, develop and test do all this themselves, then type-check and bundle the modules.',
  flags: { source: { type: 'string', value: 'CATALOG', description: 'the *.flow.yaml catalog (required)' } },
  run: async (a) => (await import('./generate.js')).generate(a),
};

const testCommand: Command = {
  name: 'test',
  summary: "run a catalog's tests, each on a broker of its own",
  usage: '--source CATALOG [--filter REGEX]',
  description:
    'Builds the catalog (types, type-check, bundle), then runs each test of its tests: section in order, from\n' +
    'empty collections and registers, on a temporary broker in this process that is removed afterwards:\n' +
    'ingest steps are one transaction each, verify steps wait for the derivations and compare the\n' +
    "collection's documents, combined by key, with the expected ones. Exits 1 when a test fails.",
  flags: {
    source: { type: 'string', value: 'CATALOG', description: 'the *.flow.yaml catalog (required)' },
    filter: { type: 'string', value: 'REGEX', description: 'only the tests whose name matches' },
  },
  run: async (a) => (await import('./test.js')).test(a),
};

const catalog: Command = {
  name: 'catalog',
  summary: 'check *.flow.yaml catalogs',
  subcommands: [
    {
      name: 'check',
      summary: "check a catalog as the broker would and summarize its collections",
      usage: 'FILE',
      description:
        'Loads a *.flow.yaml catalog with everything it imports: unknown fields, collection names, key and\n' +
        'projection pointers, that keys and partition fields are required by the schema (partitions typed\n' +
        "string, integer or boolean), fragment settings. Prints each collection's key, partition fields and\n" +
        'projections; exits 2 on the first problem.',
      positionals: { min: 1, max: 1 },
      run: async (a) => (await import('./catalog.js')).check(a),
    },
  ],
};

const ingest: Command = {
  name: 'ingest',
  summary: 'ingest NDJSON documents from stdin into a collection, in transactions',
  usage: 'COLLECTION [flags] < documents.ndjson',
  description:
    'With --producer ID, a rerun of an interrupted load with the same input and producer skips what\n' +
    'the broker committed and writes the rest: every document exactly once.',
  flags: {
    batch: { type: 'string', value: 'N', description: 'documents per transaction', default: '1000' },
    producer: { type: 'string', value: 'ID', description: 'name this load, so that rerunning it resumes (default: a new id per run)' },
    ...QUIET,
    ...BROKER,
  },
  positionals: { min: 1, max: 1 },
  run: async (a) => (await import('./ingest.js')).ingest(a),
};

const journals: Command = {
  name: 'journals',
  summary: 'create, list, describe and delete journals',
  description: SELECTORS_HELP,
  subcommands: [
    {
      name: 'apply',
      summary: 'create or update journals from a YAML file',
      usage: '-f FILE [--dry-run]',
      description: "A journals file lists specs under 'journals:' with optional shared 'defaults:' (see catalog/journals.yaml).",
      flags: { file: { type: 'string', short: 'f', value: 'FILE', description: 'the journals file (required)' }, 'dry-run': { type: 'boolean', description: 'say what would change, change nothing' }, ...BROKER },
      run: async (a) => (await import('./journals.js')).apply(a),
    },
    {
      name: 'create',
      summary: 'create one journal',
      usage: 'NAME [--content-type TYPE] [-l KEY=VALUE]…',
      flags: {
        'content-type': { type: 'string', value: 'TYPE', description: 'content type of its appends', default: 'application/octet-stream' },
        label: { type: 'string', short: 'l', value: 'KEY=VALUE', multiple: true, description: 'a label' },
        ...BROKER,
      },
      positionals: { min: 1, max: 1 },
      run: async (a) => (await import('./journals.js')).create(a),
    },
    {
      name: 'list',
      summary: 'list journals: name, labels, write head',
      usage: '[-l SELECTOR] [--json]',
      description: SELECTORS_HELP,
      flags: { ...SELECTOR, json: { type: 'boolean', description: 'print JSON' }, ...BROKER },
      run: async (a) => (await import('./journals.js')).list(a),
    },
    {
      name: 'describe',
      summary: 'a journal: spec, write head, fragments and spools',
      usage: 'NAME [--json]',
      flags: { json: { type: 'boolean', description: 'print JSON' }, ...BROKER },
      positionals: { min: 1, max: 1 },
      run: async (a) => (await import('./journals.js')).describe(a),
    },
    {
      name: 'delete',
      summary: 'delete a journal',
      usage: 'NAME',
      flags: BROKER,
      positionals: { min: 1, max: 1 },
      run: async (a) => (await import('./journals.js')).remove(a),
    },
  ],
};

const append: Command = {
  name: 'append',
  summary: 'append stdin to a journal, in batches of whole lines',
  usage: 'JOURNAL [flags] < data',
  description: 'Each batch is one atomic append, in order. A last line without a newline gets one on NDJSON journals.',
  flags: {
    'batch-size': { type: 'string', value: 'SIZE', description: 'bytes per append, cut after a newline', default: '1MiB' },
    'content-type': { type: 'string', value: 'TYPE', description: "content type of the appends (default: the journal's)" },
    ...QUIET,
    ...BROKER,
  },
  positionals: { min: 1, max: 1 },
  run: async (a) => (await import('./append.js')).append(a),
};

const read: Command = {
  name: 'read',
  summary: "a journal's (or collection's) history from the lake, then live, to stdout",
  usage: '<JOURNAL | -l SELECTOR | --collection NAME [--partition FIELD=VALUE]… [--checkpoint FILE]> [flags]',
  description: 'A progress bar goes to stderr when it is a terminal.',
  flags: {
    ...SELECTOR,
    collection: { type: 'string', short: 'c', value: 'NAME', description: "a collection's committed documents" },
    partition: { type: 'string', short: 'p', value: 'FIELD=VALUE', multiple: true, description: 'only the partitions of --collection with this value' },
    offset: { type: 'string', short: 'o', value: 'N|-1|now', description: 'where to start', default: '-1 (the beginning)' },
    follow: { type: 'boolean', short: 'f', description: 'then wait for and print new appends' },
    docs: { type: 'boolean', description: 'one JSON document per line, prefixed with journal and offsets' },
    'via-broker': { type: 'boolean', description: 'read history through the broker, not straight from the store' },
    'allow-jumps': { type: 'boolean', description: 'skip history the retention removed instead of failing' },
    checkpoint: { type: 'string', value: 'FILE', description: 'with --collection: resume where the run that wrote FILE stopped, and save where this one stops' },
    ...BROKER,
  },
  positionals: { min: 0, max: 1 },
  run: async (a) => (await import('./read.js')).read(a),
};

const WHICH = '<JOURNAL | -l SELECTOR>';
const fragmentCommand = (name: string, summary: string, flags: Flags, usage = WHICH): Command => ({
  name,
  summary,
  usage,
  flags: { ...SELECTOR, ...flags, ...BROKER },
  positionals: { min: 0, max: 1 },
  run: async (a) => (await import('./fragments.js')).fragments(name, a),
});

const fragments: Command = {
  name: 'fragments',
  summary: 'fragments in the lake: list, verify, prune, flush, ddl',
  description: SELECTORS_HELP,
  subcommands: [
    fragmentCommand('list', 'fragments and spools of journals', {
      json: { type: 'boolean', description: 'print JSON' },
      signed: { type: 'boolean', description: 'print presigned URLs' },
    }),
    fragmentCommand('verify', 're-read each fragment from its store, check offsets and SHA-1 (exits 1 if any is bad)', {}),
    fragmentCommand('prune', 'delete fragments older than retention, or below an offset (a dry run unless --yes)', {
      yes: { type: 'boolean', description: 'really delete' },
      below: { type: 'string', value: 'OFFSET', description: 'instead of by age: the fragments wholly below this offset' },
    }),
    fragmentCommand('flush', 'persist what is spooled now, not at the flush interval', {}),
    {
      name: 'ddl',
      summary: 'CREATE EXTERNAL TABLE for the journals under a prefix (Athena or Spark)',
      usage: 'PREFIX [flags]',
      flags: {
        dialect: { type: 'string', value: 'athena|spark', description: 'SQL dialect', default: 'athena' },
        location: { type: 'string', value: 'URL', description: "the table's location (default: the journals' store)" },
        table: { type: 'string', value: 'NAME', description: 'table name (default: the last segment of PREFIX)' },
        ...BROKER,
      },
      positionals: { min: 1, max: 1 },
      run: async (a) => (await import('./fragments.js')).fragments('ddl', a),
    },
  ],
};

const SOURCE: Flags = { source: { type: 'string', value: 'CATALOG', description: 'the *.flow.yaml catalog (required)' } };

const materializations: Command = {
  name: 'materializations',
  summary: 'collections kept as PostgreSQL and SQLite tables: ddl, status',
  subcommands: [
    {
      name: 'ddl',
      summary: "print the SQL that creates each materialization's table, without running it",
      usage: '--source CATALOG',
      flags: SOURCE,
      positionals: { min: 0, max: 0 },
      run: async (a) => (await import('./materializations.js')).ddl(a),
    },
    {
      name: 'status',
      summary: 'state, lag, rows written, last commit and last error of each materialization of a serving broker',
      usage: '[--json] [flags]',
      flags: { json: { type: 'boolean', description: 'print JSON' }, ...BROKER },
      positionals: { min: 0, max: 0 },
      run: async (a) => (await import('./materializations.js')).status(a),
    },
  ],
};

const token: Command = {
  name: 'token',
  summary: 'bearer tokens for a broker run with --auth-keys',
  subcommands: [
    {
      name: 'create',
      summary: 'print a signed token with capabilities scoped by a label selector',
      flags: {
        'auth-keys': { type: 'string', value: 'KEYS', description: "the broker's base64 HMAC keys; the first signs", default: '$INLET_AUTH_KEYS' },
        cap: { type: 'string', value: 'CAPS', description: 'comma-separated capabilities: LIST, READ, APPEND, APPLY, DELETE, INGEST (required)' },
        selector: { type: 'string', short: 'l', value: 'SELECTOR', description: 'journals the token covers, e.g. app=chat; collections match inlet.dev/collection=NAME', default: 'every journal' },
        ttl: { type: 'string', value: 'DURATION', description: 'how long the token is valid', default: '24h' },
      },
      positionals: { min: 0, max: 0 },
      run: async (a) => (await import('./token.js')).createTokenCommand(a),
    },
  ],
};

/** The root of the CLI. */
export const inlet: Command = {
  name: 'inlet',
  summary: 'an append-only journal broker over a cloud-storage lake',
  description: 'inlet: an append-only journal broker over a cloud-storage lake. `inlet --version` prints its version.',
  subcommands: [serve, develop, testCommand, generate, runtime, derivations, materializations, catalog, journals, append, ingest, read, fragments, token],
};
