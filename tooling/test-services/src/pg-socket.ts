import { existsSync } from 'node:fs';
import postgres from '@diana/postgres';

/** Where a PostgreSQL server's Unix-domain socket is, and whether this machine sees it. */
export interface PgSocket {
  /** The first of the server's `unix_socket_directories` ('' when it has none). */
  readonly dir: string;
  /** `<dir>/.s.PGSQL.<port>`, the port of the URL. */
  readonly path: string;
  /** True when that file is on this machine (the server is not in a container or elsewhere). */
  readonly here: boolean;
}

/** Asks the server at `url` (a direct URL, not a pooler's) where its socket is. */
export async function findPgSocket(url: string): Promise<PgSocket> {
  const admin = postgres(url, { max: 1 });
  try {
    const [row] = await admin<{ dirs: string }[]>`select current_setting('unix_socket_directories') as dirs`;
    const dir = row?.dirs.split(',')[0]?.trim() ?? '';
    const path = `${dir}/.s.PGSQL.${new URL(url).port || '5432'}`;
    return { dir, path, here: dir.startsWith('/') && existsSync(path) };
  } finally {
    await admin.end({ timeout: 1 });
  }
}
