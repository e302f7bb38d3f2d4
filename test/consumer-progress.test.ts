import test from 'ava';
import { reportProgress, type ConsumerProgress } from '../src/cli/consumer-progress.js';

/** Runs the reporter over `polls` (one per tick) and returns what it wrote once they are spent. */
async function run(polls: ConsumerProgress[][], tty: boolean): Promise<string> {
  let out = '';
  let i = 0;
  // The reporter's timer does not hold the process open (develop exits at Ctrl-C): this one does.
  const hold = setInterval(() => undefined, 1000);
  await new Promise<void>((done) => {
    const stop = reportProgress(
      async () => {
        if (i === polls.length) {
          stop();
          done();
          return [];
        }
        return polls[i++]!;
      },
      { tty, everyMs: 1, lineEveryMs: 0, minCatchUpMs: 0, write: (s) => (out += s) },
    );
  });
  clearInterval(hold);
  return out;
}

const d = (lagBytes: number, done: number): ConsumerProgress => ({ kind: 'derivation', name: 'userDetails', lagBytes, done });

test('a catch-up shows the share done of the most it was behind, then one line when it is live', async (t) => {
  const out = await run([[d(4096, 0)], [d(1024, 3000)], [d(0, 4000)], [d(0, 4000)]], false);
  t.regex(
    out,
    /^catching up: userDetails 0% \(4\.0 KiB behind, 0 docs read\)\ncatching up: userDetails 75% \(1\.0 KiB behind, 3,000 docs read\)\nderivation userDetails caught up: 4,000 documents read in \d+\.\d s, now live\n$/,
  );
});

test('on a terminal the line is redrawn in place, and a failure is said once', async (t) => {
  const failed: ConsumerProgress = { kind: 'materialization', name: 'db/t', lagBytes: 10, done: 0, failed: 'TABLE_INCOMPATIBLE: column x' };
  const out = await run([[d(2048, 0)], [d(1024, 10), failed], [d(1024, 20), failed]], true);
  // Two redraws, and the clear when it stops.
  t.is(out.split('\r\x1b[2K').length - 1, 3, JSON.stringify(out));
  t.is(out.split('materialization db/t failed: TABLE_INCOMPATIBLE: column x\n').length - 1, 1, JSON.stringify(out));
  t.true(out.endsWith('catching up: userDetails 50% (1.0 KiB behind, 20 docs read)\r\x1b[2K'), JSON.stringify(out));
});

test('nothing is written while everything is live', async (t) => {
  t.is(await run([[d(0, 10)], [d(0, 10)]], false), '');
});
