// The codes of the errors @diana/redis raises itself (a command's own failure is ioredis's error).

/** Codes of `@diana/redis`'s own errors. */
export const REDIS_ERROR_CODES = Object.freeze({
  /**
   * The server refused the URL's database (`redis://…/N`, `?db=N` past its `databases`). Every
   * client of the connector is closed: waiting cannot help, only another URL or server can.
   */
  DATABASE_REFUSED: 'E_REDIS_DATABASE_REFUSED',
  /**
   * The connector was closed: a `ping` or `ready` still waiting ends with it, and the connector
   * makes no client after it.
   */
  CLOSED: 'E_REDIS_CLOSED',
} as const);
