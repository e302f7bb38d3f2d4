import { Type, type Static } from '@sinclair/typebox';
import { JournalSpec } from './journal-spec.js';

/** A journal as `GET /v1/journals` lists it: its spec, write head and stream state. */
export const JournalInfo = Type.Object({
  spec: JournalSpec,
  writeHead: Type.Number(),
  closed: Type.Optional(Type.Boolean()),
  /** The journal this one was forked from, and where. */
  forkedFrom: Type.Optional(Type.String()),
  forkOffset: Type.Optional(Type.Number()),
  /** Deleted while forks still read its history. */
  deleted: Type.Optional(Type.Boolean()),
});
export type JournalInfo = Static<typeof JournalInfo>;

/** `GET /v1/journals[?selector=…]`. */
/**
 * `GET /v1/journals[?selector=…][&watch=REVISION]`. `revision` names the set of journals and their
 * specs (not write heads); with `watch`, the broker answers once its revision differs from the
 * one given, or at its long-poll timeout, so a reader learns of new journals at once.
 */
export const JournalList = Type.Object({ journals: Type.Array(JournalInfo), revision: Type.Optional(Type.String()) });
export type JournalList = Static<typeof JournalList>;

/** What applying one spec did (or, in a dry run, would do). */
export const ApplyAction = Type.Union([Type.Literal('created'), Type.Literal('updated'), Type.Literal('unchanged')]);
export type ApplyAction = Static<typeof ApplyAction>;

/** `POST /v1/journals/apply[?dryRun=true]`. */
export const ApplyResults = Type.Object({
  dryRun: Type.Boolean(),
  results: Type.Array(Type.Object({ name: Type.String(), action: ApplyAction })),
});
export type ApplyResults = Static<typeof ApplyResults>;

/** `GET /healthz`. */
/** `failedJournals`: journals that failed recovery and answer JOURNAL_FAILED (see the broker's log for what was damaged). */
export const Health = Type.Object({ status: Type.Literal('ok'), journals: Type.Number(), failedJournals: Type.Array(Type.String()) });
export type Health = Static<typeof Health>;
