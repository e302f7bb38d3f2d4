import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { FileStore } from '../src/consumer/file-store.js';
import type { ConsumerCheckpoint } from '../src/consumer/types.js';
import { InletError } from '../src/errors.js';
import { withTempDir } from './helpers/broker.js';

const CP: ConsumerCheckpoint = { sources: { c: { 'c/pivot=00': { readThrough: 10, producers: {} } } }, ackIntents: {}, lastCommitted: '0000000000000001' };

test('a file store commits the state as it was when commit was called, only once its checkpoint is ready, and reopens with it', (t) =>
  withTempDir(async (dir) => {
    const path = join(dir, 'store.json');
    const store = await FileStore.open(path, { n: 0 });
    t.is(await store.restoreCheckpoint(), undefined);
    store.state.n = 1;
    let release!: (cp: ConsumerCheckpoint) => void;
    const committing = store.commit(new Promise<ConsumerCheckpoint>((r) => (release = r)));
    store.state = { n: 2 }; // the next transaction stages more meanwhile
    await new Promise((r) => setTimeout(r, 20));
    await t.throwsAsync(readFile(path), { code: 'ENOENT' }, 'nothing is durable before the checkpoint is ready');
    release(CP);
    await committing;
    const reopened = await FileStore.open(path, { n: 0 });
    t.deepEqual(reopened.state, { n: 1 });
    t.deepEqual(await reopened.restoreCheckpoint(), CP);
  }));

test('a commit whose checkpoint fails commits nothing; a damaged store file is a clear error', (t) =>
  withTempDir(async (dir) => {
    const path = join(dir, 'store.json');
    const store = await FileStore.open(path, { n: 0 });
    await store.commit(Promise.resolve(CP));
    store.state.n = 5;
    await t.throwsAsync(store.commit(Promise.reject(new Error('append failed'))), { message: 'append failed' });
    t.deepEqual((await FileStore.open(path, { n: 0 })).state, { n: 0 });
    await writeFile(path, '{"state":');
    const err = await t.throwsAsync(FileStore.open(path, {}));
    t.true(err instanceof InletError && err.code === 'INVALID_CONTENT' && err.message.startsWith(`consumer store ${path} is not JSON`), String(err));
  }));
