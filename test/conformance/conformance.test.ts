// The Durable Streams conformance suite, run against a real inlet broker process started by run.mjs.
import { describe } from 'vitest';
import { runConformanceTests } from '@durable-streams/server-conformance-tests';

const baseUrl = process.env.INLET_CONFORMANCE_URL;
if (!baseUrl) throw new Error('INLET_CONFORMANCE_URL is not set: run this suite through test/conformance/run.mjs');

describe(`Durable Streams conformance @ ${baseUrl}`, () => {
  runConformanceTests({ baseUrl, longPollTimeoutMs: 20_000 });
});
