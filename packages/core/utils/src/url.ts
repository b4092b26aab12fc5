// The one strict reader of URL settings. WHATWG `new URL` accepts far more than a connection
// string should be: `postgres:app:pw@db/x` parses as a scheme plus an opaque path (no host, no
// password), and drivers then read it their own way — connecting elsewhere and naming the
// password in their errors. A URL setting must therefore look like `scheme://[user[:pw]@]host…`,
// or, for a Unix-domain socket on this host, `unix:///absolute/path[?query]` — and libpq's
// `postgres:///db?host=/socket/directory` (no host: the socket's directory is the query's `host`).

/** Options of `parseStrictUrl`. */
export interface StrictUrlOptions {
  /** Accepted schemes without the colon, lower case. Any when omitted. */
  readonly protocols?: readonly string[];
  /** Whether `user:password@` may appear. @default true */
  readonly credentials?: boolean;
}

const SCHEME_AND_AUTHORITY = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/;
// Whitespace, controls and backslashes have no place in a connection string; WHATWG would
// silently drop, encode or reinterpret them.
const FORBIDDEN = /[\s\p{Cc}\\]/u;
// A host name (ASCII; international names as punycode) or a bracketed IPv6 address.
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])$/;

/** The parsed URL when `input` is a well-formed `scheme://host` URL, otherwise `undefined`. */
export function parseStrictUrl(input: unknown, options: StrictUrlOptions = {}): URL | undefined {
  if (typeof input !== 'string') return undefined;
  const raw = libpqSocketUrl(input.trim());
  if (FORBIDDEN.test(raw)) return undefined;
  const match = SCHEME_AND_AUTHORITY.exec(raw);
  if (!match) return undefined;
  const scheme = (match[1] as string).toLowerCase();
  const authority = match[2] as string;
  if (options.protocols && !options.protocols.includes(scheme)) return undefined;
  if (scheme === 'unix') return parseSocketUrl(raw);
  if (authority === '') return LIBPQ_SCHEMES.includes(scheme) ? parseLibpqSocketUrl(raw) : undefined;
  // One `@` at most, ending the credentials: an unencoded `@` in a password, or one after the
  // host (`postgres://ap/p:pw@db`), makes each driver find the password somewhere else.
  const at = authority.indexOf('@');
  if (raw.indexOf('@') !== raw.lastIndexOf('@') || (at === -1 && raw.includes('@'))) return undefined;
  if (authority.slice(at + 1) === '') return undefined;
  // Credentials that say nothing (`@host`, `user:@host`) are most often a misplaced `@`: what
  // follows it is then the password, read as the host.
  const userinfo = at === -1 ? undefined : authority.slice(0, at);
  if (userinfo === '' || userinfo?.endsWith(':')) return undefined;
  if (options.credentials === false && at !== -1) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== `${scheme}:` || !HOST.test(url.hostname)) return undefined;
  return url;
}

// `unix:///run/redis/redis.sock?db=2`: no authority at all (WHATWG cannot put credentials before
// an empty host), an absolute path that names a file (not a folder), no fragment.
const SOCKET_PATH = /^\/(?:[^/?#]+\/)*[^/?#]+$/;

function parseSocketUrl(raw: string): URL | undefined {
  if (!raw.toLowerCase().startsWith('unix:///') || raw.includes('#')) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  return url.host === '' && SOCKET_PATH.test(url.pathname) ? url : undefined;
}

// libpq's socket form, as psql reads it: `postgres:///diana?host=/var/run/postgresql`, the user
// then in `?user=` or the OS user's name. Nothing before the path (WHATWG cannot put credentials
// before an empty host), and a `host` in the query: it must say where. Whether that is one
// absolute directory is @diana/db's to check, with an error that says so.
const LIBPQ_SCHEMES = ['postgres', 'postgresql'];

function parseLibpqSocketUrl(raw: string): URL | undefined {
  if (raw.includes('#') || raw.includes('@')) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  return url.host === '' && url.searchParams.has('host') ? url : undefined;
}

// `scheme://[userinfo@]%2F…[:port]` or `scheme://userinfo@[:port]` up to the path, query or end
const LIBPQ_AUTHORITY = /^(postgres|postgresql):\/\/(?:([^/?#@]*)@)?([^/?#@:]*)(:\d*)?(?=[/?]|$)/i;

/**
 * libpq's two other ways to write a Unix-domain socket, rewritten to the one the strict reader
 * and the driver take (`postgres://[userinfo@]localhost[:port]/db?host=/directory`, the host
 * then unused): credentials before an empty host, the directory in the query
 * (`postgres://app:pw@/diana?host=/cloudsql/project:region:instance`, as Cloud SQL's guides
 * write it), and the directory %2F-encoded as the host (`postgres://app@%2Fvar%2Frun%2Fpostgresql/diana`).
 * Any other string comes back as it is (and a bad one is refused where it is read).
 */
export function libpqSocketUrl(raw: string): string {
  const match = LIBPQ_AUTHORITY.exec(raw);
  if (!match || raw.includes('#')) return raw;
  const [authority, scheme, userinfo, host = '', port = ''] = match;
  const rest = raw.slice(authority.length);
  const credentials = userinfo === undefined ? '' : `${userinfo}@`;
  const rebuilt = (tail: string) => `${scheme}://${credentials}localhost${port}${tail}`;
  if (host === '') {
    // `postgres:///db?host=…` (nothing before the path) is libpq's short form, read as it is
    if (userinfo === undefined && port === '') return raw;
    return queryHas(rest, 'host') ? rebuilt(rest) : raw;
  }
  if (!/^%2f/i.test(host) || queryHas(rest, 'host')) return raw;
  let directory: string;
  try {
    directory = decodeURIComponent(host);
  } catch {
    return raw;
  }
  const withPath = rest.startsWith('/') ? rest : `/${rest}`;
  const join = withPath.includes('?') ? (withPath.endsWith('?') || withPath.endsWith('&') ? '' : '&') : '?';
  return rebuilt(`${withPath}${join}host=${encodeURIComponent(directory)}`);
}

function queryHas(rest: string, key: string): boolean {
  const at = rest.indexOf('?');
  return at !== -1 && new URLSearchParams(rest.slice(at + 1)).has(key);
}
