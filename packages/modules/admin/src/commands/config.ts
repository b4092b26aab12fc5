// /config: live settings through @diana/config's ConfigManager. `set` publishes a new
// instance, `history` shows every revision of the key with dates (the archived instances' too),
// `rollback <rev>` makes one of them active again and `rollback default` archives the active
// instance, so the shipped default applies again.
import { CONFIG_ERROR_CODES } from '@diana/config';
import { type Issue, isDianaError } from '@diana/utils';
import type { Composer } from 'grammy';
import { cutText } from '../cut.js';
import { type AdminContext, type AdminKit, type AuditEntry, shownName } from '../kit.js';
import { TEXTS } from '../texts.js';
import { formatLocalTime } from '../time.js';

const DEFAULT_WORDS = new Set(['default', 'defecto', 'por_defecto', 'predeterminado']);

export function registerConfig(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { settings } = kit;
  const config = kit.deps.config;
  const keys = () => config.templates.map((t) => t.key);
  const knownKey = (key: string) => keys().includes(key);
  /** The keys the template's defaults have beside `path` (an unknown key's path), if an object stands there. */
  const keysAt = (key: string, path: string): string[] => {
    let at: unknown = config.templates.find((t) => t.key === key)?.defaults;
    for (const part of path.split('.').slice(0, -1))
      at = at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[part] : undefined;
    return at !== null && typeof at === 'object' && !Array.isArray(at) ? Object.keys(at) : [];
  };
  /** A ConfigManager refusal as a Spanish reply naming the key and each wrong field; else undefined. */
  const configRefusal = (error: unknown, key: string): string | undefined => {
    if (isDianaError(error, CONFIG_ERROR_CODES.CONFIG_NOT_FOUND)) return TEXTS.configNoKey(key, keys());
    if (isDianaError(error, CONFIG_ERROR_CODES.CONFIG_CONFLICT)) return TEXTS.configConflict(key);
    if (isDianaError(error, CONFIG_ERROR_CODES.CONFIG_STATE)) return TEXTS.configConflict(key);
    if (isDianaError(error, CONFIG_ERROR_CODES.CONFIG_INVALID)) {
      const issues = (error as { issues?: readonly Issue[] }).issues ?? [];
      return TEXTS.configInvalid(
        key,
        issues.map((i) =>
          i.expected === 'never'
            ? TEXTS.configUnknownField(i.path, keysAt(key, i.path))
            : TEXTS.configIssue(i.path, i.expected, i.received),
        ),
      );
    }
    return undefined;
  };
  /**
   * Runs a ConfigManager write and its audit row in one transaction (the manager's joins it), the
   * row naming the update: the same update sent again writes nothing (`AlreadyHandled`). Its
   * refusals become the reply (and undefined is returned).
   */
  const attempt = async <T>(
    key: string,
    ctx: AdminContext,
    work: () => Promise<T>,
    audit: (done: T) => AuditEntry,
  ): Promise<T | undefined> => {
    try {
      return await kit.db.transaction(async () => {
        const done = await work();
        await kit.audit({ ...audit(done), update_id: kit.updateOf(ctx) });
        return done;
      });
    } catch (error) {
      const refusal = configRefusal(error, key);
      if (!refusal) throw error;
      await kit.replyPaged(ctx, refusal);
      return undefined;
    }
  };
  /** The number of the key's newest revision (what `/config history` calls it). */
  const latestNumber = async (key: string) => (await config.keyHistory(key)).length;
  const defaultsOf = (key: string) => JSON.stringify(config.templates.find((t) => t.key === key)?.defaults ?? null);

  const configLine = (key: string) => `${key}: ${JSON.stringify(config.get(key as never))}`;
  /** Staff named as /auditoria names them, `U101 (101)`, for the `tg:<id>` actors among `actors`. */
  const actorNames = async (actors: readonly string[]): Promise<Map<string, string>> => {
    const ids = [...new Set(actors.filter((a) => /^tg:[0-9]{1,18}$/.test(a)).map((a) => a.slice(3)))];
    if (ids.length === 0) return new Map();
    const rows = await kit.db.sql<{ tg: string; first_name: string }[]>`
      select telegram_id::text as tg, first_name from users where telegram_id = any(${ids}::bigint[])`;
    return new Map(rows.map((r) => [`tg:${r.tg}`, `${shownName(r.first_name)} (${r.tg})`]));
  };
  composer.command(
    'config',
    kit.guarded('edit_config', async (ctx, [sub, key, ...rest]) => {
      const actor = kit.actorOf(ctx);
      if (!sub) {
        const lines = config.templates.map((t) => configLine(t.key));
        return kit.replyPaged(ctx, TEXTS.configList(lines));
      }
      const subcommand = ['set', 'history', 'rollback'].includes(sub);
      // /config <clave> alone: that key's value now (what /admin's line "/config [set | …] <clave>"
      // reads as); a word that is no key either is most likely a mistyped key
      if (!subcommand && !key)
        return ctx.reply(knownKey(sub) ? configLine(sub) : TEXTS.configNoKey(cutText(sub, 80), keys()));
      if (!subcommand || !key) return ctx.reply(TEXTS.usage(TEXTS.configUsage));
      if (!knownKey(key)) return ctx.reply(TEXTS.configNoKey(cutText(key, 80), keys()));
      const active = async () => (await config.list({ key, status: 'active' })).find((i) => i.scope === 'global');

      if (sub === 'set') {
        let values: unknown;
        try {
          values = JSON.parse(rest.join(' '));
        } catch {
          return ctx.reply(rest.length === 0 ? TEXTS.usage('/config set <clave> <json>') : TEXTS.configBadJson(key));
        }
        const published = await attempt(
          key,
          ctx,
          async () => {
            const draft = await config.createDraft(key as never, values, { actor, reason: 'via /config set' });
            return config.publish(draft.id, { actor, reason: 'via /config set' });
          },
          (done) => ({ actor, action: 'config_set', target: key, details: { instance: done.id, values } }),
        );
        if (!published) return;
        return ctx.reply(TEXTS.configDone(key, await latestNumber(key)));
      }

      if (sub === 'history') {
        // every value the key had: each set is an instance of its own, the one before archived
        const history = await config.keyHistory(key);
        if (history.length === 0) return ctx.reply(TEXTS.configAlreadyDefault(key, defaultsOf(key)));
        const now = (await active()) ? [] : [TEXTS.configNoValue(key)];
        const names = await actorNames(history.map((r) => r.actor));
        return kit.replyPaged(
          ctx,
          [
            ...history.map((r) =>
              TEXTS.configHistoryLine(
                r.number,
                formatLocalTime(r.created_at, settings.timezone),
                TEXTS.configActions[r.action] ?? r.action,
                names.get(r.actor) ?? r.actor,
                JSON.stringify(r.values),
              ),
            ),
            ...now,
          ].join('\n'),
        );
      }

      // rollback
      const target = rest[0];
      if (!target) return ctx.reply(TEXTS.usage(TEXTS.configUsage));
      const instance = await active();
      if (DEFAULT_WORDS.has(target.toLowerCase())) {
        // the shipped default is what applies when no instance is active: archive the active one
        if (!instance) return ctx.reply(TEXTS.configAlreadyDefault(key, defaultsOf(key)));
        const archived = await attempt(
          key,
          ctx,
          () => config.archive(instance.id, { actor, reason: 'via /config rollback default' }),
          () => ({ actor, action: 'config_default', target: key, details: { instance: instance.id } }),
        );
        if (!archived) return;
        return ctx.reply(TEXTS.configDefault(key, defaultsOf(key)));
      }
      const to = /^#?\d{1,9}$/.test(target) ? Number(target.replace('#', '')) : Number.NaN;
      const count = (await config.keyHistory(key)).length;
      if (count === 0) return ctx.reply(TEXTS.configNoValue(key));
      if (!(to >= 1 && to <= count)) return ctx.reply(TEXTS.configNoRevision(key, cutText(target, 40), count));
      // a revision of an archived value too: it is published again as a new instance
      const rolled = await attempt(
        key,
        ctx,
        () => config.restore(key, to, { actor, reason: 'via /config rollback' }),
        () => ({ actor, action: 'config_rollback', target: key, details: { to } }),
      );
      if (!rolled) return;
      return ctx.reply(TEXTS.configDone(key, await latestNumber(key)));
    }),
  );
}
