/**
 * Named points where recovery matters. `INLET_CRASH_AT=<name>[:<n>]` makes the process kill
 * itself with SIGKILL the n-th time (default 1st) it passes `<name>`: a real crash, at a
 * chosen step, for tests of what a restart recovers. Unset, a crash point costs one comparison.
 */
const spec = process.env.INLET_CRASH_AT;
const [target, nth] = spec ? [spec.split(':')[0], Number(spec.split(':')[1] ?? 1)] : [undefined, 0];
let passes = 0;

export function crashPoint(name: string): void {
  if (name !== target) return;
  if (++passes === nth) process.kill(process.pid, 'SIGKILL');
}
