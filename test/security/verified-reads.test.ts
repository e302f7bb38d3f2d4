import test from 'ava';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BrokerClient, JournalReader, ReaderError } from '../../src/readers/mod.js';
import { appendTo, createJournal, startBroker, withTempDir } from '../helpers/broker.js';

/** Every fragment file under `dir`, in offset order. */
async function fragmentFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /^[0-9a-f]{16}-/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort((a, b) => a.split('/').pop()!.localeCompare(b.split('/').pop()!));
}

const chunk = (i: number) => Buffer.from(`${String(i).padStart(6, '0')} ${'abcdefghij'.repeat(150)}\n`);

/**
 * Writes three ~1.5 KB appends as three fragments of `codec` (1 KiB fragment length), damages
 * the second with `damage`, and starts a broker on an empty data dir over that lake, so every
 * byte comes from the store.
 */
async function damagedLake(dir: string, codec: string, damage: (files: string[]) => Promise<void>) {
  const lake = join(dir, 'lake');
  const args = ['--store', `file://${lake}/`, '--fragment-length', '1KiB', '--compression', codec];
  const b1 = await startBroker({ dataDir: join(dir, 'd1'), args });
  await createJournal(b1.url, 'v/j');
  for (let i = 0; i < 3; i++) if ((await appendTo(b1.url, 'v/j', chunk(i))).status !== 204) throw new Error('append failed');
  await b1.stop('SIGTERM');
  const files = await fragmentFiles(join(lake, 'v/j'));
  if (files.length !== 3) throw new Error(`expected 3 fragments, got ${files.length}`);
  await damage(files);
  return { lake, b2: await startBroker({ dataDir: join(dir, 'd2'), args }) };
}

for (const codec of ['gzip', 'zstd', 'none'] as const) {
  test(`a flipped byte in a ${codec} fragment is FRAGMENT_CORRUPT at the broker and at a reader, never data (regression: zstd and raw flips were served)`, async (t) => {
    await withTempDir(async (dir) => {
      const flip = async (files: string[]) => {
        const data = await readFile(files[1]!);
        data[Math.floor(data.length / 2)]! ^= 0x01;
        await writeFile(files[1]!, data);
      };
      const { lake, b2 } = await damagedLake(dir, codec, flip);
      try {
        const first = chunk(0).length;
        // The broker: the first fragment reads, the damaged one answers an error code, not bytes.
        const ok = await fetch(`${b2.url}/v1/stream/v/j?offset=0`);
        t.is(ok.status, 200);
        t.deepEqual(Buffer.from(await ok.arrayBuffer()), chunk(0));
        const bad = await fetch(`${b2.url}/v1/stream/v/j?offset=${first}`);
        t.is(bad.status, 502);
        t.is(((await bad.json()) as { error: { code: string } }).error.code, 'FRAGMENT_CORRUPT');
        const metrics = await (await fetch(`${b2.url}/metrics`)).text();
        t.regex(metrics, /^inlet_fragment_corrupt_total [1-9]/m);
        t.true(b2.logs().includes('fragment is corrupt') && b2.logs().includes('0000000000000'), b2.logs());

        // A reader allowed to read the lake directly yields the intact fragment, then fails.
        for (const stores of [[`file://${lake}/`], []]) {
          const got: Buffer[] = [];
          const err = await t.throwsAsync(async () => {
            for await (const c of new JournalReader(new BrokerClient(b2.url), 'v/j', { stores })) got.push(c.data);
          });
          t.true(err instanceof ReaderError, String(err));
          t.is((err as ReaderError).code, 'FRAGMENT_CORRUPT');
          t.deepEqual(Buffer.concat(got), chunk(0));
        }
      } finally {
        await b2.stop('SIGKILL');
      }
    });
  });
}

test('a fragment swapped for another of the same length is FRAGMENT_CORRUPT (regression: a swapped fragment was served)', async (t) => {
  await withTempDir(async (dir) => {
    const swap = async (files: string[]) => {
      await writeFile(files[1]!, await readFile(files[2]!));
    };
    const { lake, b2 } = await damagedLake(dir, 'none', swap);
    try {
      const got: Buffer[] = [];
      const err = await t.throwsAsync(async () => {
        for await (const c of new JournalReader(new BrokerClient(b2.url), 'v/j', { stores: [`file://${lake}/`] })) got.push(c.data);
      });
      t.is((err as ReaderError).code, 'FRAGMENT_CORRUPT');
      t.deepEqual(Buffer.concat(got), chunk(0));
    } finally {
      await b2.stop('SIGKILL');
    }
  });
});

test('zstd fragments carry a frame checksum', async (t) => {
  await withTempDir(async (dir) => {
    const { b2 } = await damagedLake(dir, 'zstd', async (files) => {
      const data = await readFile(files[0]!);
      // Frame header descriptor, bit 2: Content_Checksum_flag.
      t.is(data.readUInt32LE(0), 0xfd2fb528);
      t.is(data[4]! & 0x04, 0x04);
    });
    await b2.stop('SIGKILL');
  });
});

test('a reader opens fragment URLs only under the stores it was given (regression: a fake broker handed file:///etc/shadow and it was read)', async (t) => {
  await withTempDir(async (dir) => {
    const secret = Buffer.from('root:$6$secret-hash:19000:0:99999:7:::\n');
    const secretPath = join(dir, 'shadow');
    await writeFile(secretPath, secret);
    const served = Buffer.alloc(secret.length, 'x');
    let fragmentUrl = pathToFileURL(secretPath).href;
    // A broker that is not ours: it lists the secret as a fragment, even with its right SHA-1.
    const fake = createServer((req, res) => {
      const url = new URL(req.url!, 'http://fake');
      if (url.pathname === '/v1/fragments') {
        const f = {
          begin: 0, end: secret.length, size: secret.length, compressedSize: secret.length, codec: 'none',
          sha1: createHash('sha1').update(secret).digest('hex'), modified: new Date().toISOString(),
          store: 'file:///', key: 'shadow', location: secretPath, url: fragmentUrl,
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ journals: [{ journal: 'x', writeHead: secret.length, fragments: [f], gaps: [], spools: [] }] }));
      } else if (url.pathname === '/v1/stream/x') {
        const from = Number(url.searchParams.get('offset')!.split('_')[1]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'stream-next-offset': `0000000000000000_${String(secret.length).padStart(16, '0')}`, 'stream-up-to-date': 'true' });
        res.end(served.subarray(from));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const client = new BrokerClient(`http://127.0.0.1:${(fake.address() as AddressInfo).port}`);
      const lake = `file://${join(dir, 'lake')}/`;
      const cases: [string, { stores?: string[] }][] = [
        [pathToFileURL(secretPath).href, {}],
        [pathToFileURL(secretPath).href, { stores: [lake] }],
        [`${lake}../shadow`, { stores: [lake] }],
        [`${lake}%2e%2e/shadow`, { stores: [lake] }],
        [pathToFileURL(secretPath).href, { stores: [`file://${join(dir, 'sha')}`] }],
        [`file://otherhost${secretPath}`, { stores: [pathToFileURL(dir).href] }],
      ];
      for (const [url, opts] of cases) {
        fragmentUrl = url;
        const got: Buffer[] = [];
        for await (const c of new JournalReader(client, 'x', opts)) got.push(c.data);
        t.deepEqual(Buffer.concat(got), served, `${url} with ${JSON.stringify(opts)}`);
      }
      // The same URL under a store the reader was given is read directly (so the cases above could fail).
      fragmentUrl = pathToFileURL(secretPath).href;
      const got: Buffer[] = [];
      for await (const c of new JournalReader(client, 'x', { stores: [pathToFileURL(dir).href] })) got.push(c.data);
      t.deepEqual(Buffer.concat(got), secret);
    } finally {
      fake.closeAllConnections();
      fake.close();
    }
  });
});
