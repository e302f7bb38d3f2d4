#!/usr/bin/env node
// Group commits of many journals fsync in parallel on libuv's pool; the default 4 threads is too few.
process.env.UV_THREADPOOL_SIZE ??= '16';

import { InletError } from '../errors.js';
import { exitCodeFor, UsageError } from './args.js';

const HELP = `inlet: an append-only journal broker over a cloud-storage lake

Usage:
  inlet serve [flags]                       run the broker (inlet serve --help)
  inlet develop --source CATALOG            a development broker serving a catalog's collections
  inlet catalog check FILE                  check a *.flow.yaml catalog and summarize its collections
  inlet ingest COLLECTION                   ingest NDJSON documents from stdin, in transactions
  inlet journals apply -f FILE [--dry-run]  create or update journals from YAML
  inlet journals list [-l SELECTOR]         list journals: name, labels, write head
  inlet append JOURNAL                      append stdin (batched by lines)
  inlet read <JOURNAL | -l SELECTOR> [--offset N] [--follow] [--docs]
                                            history from the lake, then live, to stdout
  inlet read --collection NAME [--partition FIELD=VALUE] [--follow]
                                            a collection's committed documents
  inlet fragments list|prune|verify|ddl     fragments in the lake (inlet fragments --help)
  inlet token create --auth-keys KEYS --cap READ,APPEND [--selector S] [--ttl 24h]
                                            print a bearer token for a broker run with --auth-keys

Client commands take --broker URL (default $INLET_BROKER, else http://127.0.0.1:8080)
and --token TOKEN (default $INLET_TOKEN) for a broker that requires tokens.
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { serve, SERVE_HELP } = await import('./serve.js');
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(SERVE_HELP);
      return serve(rest);
    }
    case 'develop': {
      const { develop, DEVELOP_HELP } = await import('./develop.js');
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(DEVELOP_HELP);
      return develop(rest);
    }
    case 'catalog':
      return (await import('./catalog.js')).catalog(rest);
    case 'ingest':
      return (await import('./ingest.js')).ingest(rest);
    case 'journals':
      return (await import('./journals.js')).journals(rest);
    case 'fragments':
      return (await import('./fragments.js')).fragments(rest);
    case 'token':
      return (await import('./token.js')).token(rest);
    case 'append':
      return (await import('./append.js')).append(rest);
    case 'read':
      return (await import('./read.js')).read(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)} (try inlet --help)`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof InletError || err instanceof UsageError ? err.message : String((err as Error)?.stack ?? err);
  process.stderr.write(`inlet: ${message}\n`);
  process.exitCode = exitCodeFor(err);
});
