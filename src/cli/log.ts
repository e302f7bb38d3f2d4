import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Logs to stderr (stdout carries data for `inlet read`): JSON lines, or pretty on a TTY. */
export function createLogger(level: string): Logger {
  if (process.stderr.isTTY) {
    return pino({ level }, pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
  }
  return pino({ level }, pino.destination({ fd: 2, sync: false }));
}
