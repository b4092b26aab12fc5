import { Writable } from 'node:stream';

/** One pino line as written: `level` as a label (`createLogger` of `@diana/utils`), `msg`, the rest. */
export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/**
 * A log destination that keeps each line written to it, parsed: pass `destination` to
 * `createLogger` and read `lines` to assert what the code under test logged.
 */
export function captureLogLines(): { readonly destination: Writable; readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { destination, lines };
}
