import test from 'ava';
import { KeyLock } from '../src/key-lock.js';

/** A promise with its resolve and reject, to decide in the test when a task ends. */
function deferred(): { promise: Promise<void>; resolve(): void; reject(err: Error): void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('tasks of one key run one at a time, in order, and a failed task does not block the next', async (t) => {
  const lock = new KeyLock();
  const events: string[] = [];
  const first = deferred();
  const a = lock.run('k', async () => {
    events.push('a start');
    await first.promise;
    events.push('a end');
  });
  const b = lock.run('k', async () => {
    events.push('b');
    return 2;
  });
  const other = lock.run('other', async () => events.push('other'));
  await other;
  t.deepEqual(events, ['a start', 'other']);
  first.reject(new Error('a failed'));
  await t.throwsAsync(a, { message: 'a failed' });
  t.is(await b, 2);
  t.deepEqual(events, ['a start', 'other', 'b']);
  await lock.idle();
});
