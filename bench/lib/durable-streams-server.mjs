// Runs the Durable Streams reference server (@durable-streams/server) file-backed in argv[2],
// on a free port, and prints "listening on URL" once it accepts connections.
import { DurableStreamTestServer } from '@durable-streams/server';

const server = new DurableStreamTestServer({ port: 0, host: '127.0.0.1', dataDir: process.argv[2] });
const url = await server.start();
process.stdout.write(`listening on ${url}\n`);
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => void server.stop().then(() => process.exit(0)));
