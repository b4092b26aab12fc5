// Tariffs and VIP links: /tarifa creates a tariff, /tarifas lists them, /token issues a
// single-use VIP link, /revocar ends one nobody has redeemed yet.
import { SECURITY_ERROR_CODES } from '@diana/security';
import { isDianaError, newId } from '@diana/utils';
import type { Composer } from 'grammy';
import { cutText } from '../cut.js';
import type { AdminContext, AdminKit } from '../kit.js';
import { formatPrice, parsePriceCents } from '../price.js';
import { TEXTS } from '../texts.js';
import { formatHumanMoment } from '../time.js';

const DAY = 86_400_000;

export function registerTariffs(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { db, settings, deps } = kit;

  composer.command(
    'tarifa',
    kit.guarded('manage_subscriptions', async (ctx, [rawName, days, price]) => {
      if (!rawName || days === undefined || price === undefined)
        return ctx.reply(TEXTS.usage('/tarifa <nombre> <días> <precio>, por ejemplo /tarifa mensual 30 9,99'));
      // each argument is checked on its own, and a refusal names the one that is wrong
      const name = rawName.toLowerCase();
      if (!/^[a-z0-9_]{1,32}$/.test(name)) return ctx.reply(TEXTS.badTariffName(cutText(rawName, 40)));
      const d = /^\d{1,4}$/.test(days) ? Number(days) : Number.NaN;
      if (!(d >= 1 && d <= 3_650)) return ctx.reply(TEXTS.badTariffDays(cutText(days, 40)));
      const p = parsePriceCents(price);
      if (p === undefined) return ctx.reply(TEXTS.badTariffPrice(cutText(price, 40)));
      const created = await db.transaction(async (tx) => {
        const rows =
          await tx`insert into admin_tariffs (id, name, days, price_cents, created_by) values (${newId()}, ${name}, ${d}, ${p}, ${kit.actorOf(ctx)})
                   on conflict (name) do nothing returning 1`;
        if (rows.length > 0)
          await kit.audit({
            actor: kit.actorOf(ctx),
            action: 'tariff',
            target: name,
            details: { days: d, price_cents: p },
          });
        return rows.length > 0;
      });
      await ctx.reply(created ? TEXTS.tariffCreated(name, d, formatPrice(p)) : TEXTS.tariffExists);
    }),
  );

  composer.command(
    'tarifas',
    kit.guarded('manage_subscriptions', async (ctx) => {
      const rows = await db.sql<{ name: string; days: number; price_cents: string }[]>`
        select name, days, price_cents::text from admin_tariffs order by days, name`;
      if (rows.length === 0) return ctx.reply(TEXTS.noTariffs);
      await kit.replyPaged(
        ctx,
        [
          TEXTS.tariffsHeader(rows.length),
          ...rows.map((t) => TEXTS.tariffLine(t.name, t.days, formatPrice(Number(t.price_cents)))),
        ].join('\n'),
      );
    }),
  );

  composer.command(
    'token',
    kit.guarded('manage_subscriptions', async (ctx, [name]) => {
      if (!name) return ctx.reply(TEXTS.usage('/token <tarifa>'));
      const [tariff] = await db.sql<
        { id: string; days: number }[]
      >`select id, days from admin_tariffs where name = ${name.toLowerCase()}`;
      if (!tariff) {
        const names = await db.sql<{ name: string }[]>`select name from admin_tariffs order by days, name limit 20`;
        return ctx.reply(TEXTS.noSuchTariff(names.map((t) => t.name)));
      }
      // one transaction (the token's insert joins it): the same update sent again issues no
      // second valid link
      const { token, record } = await db.transaction(async () => {
        const issued = await deps.tokens.issue({
          purpose: 'vip',
          ttl_ms: settings.token_ttl_ms ?? 7 * DAY,
          data: { tariff_id: tariff.id },
        });
        await kit.audit({
          actor: kit.actorOf(ctx),
          action: 'token',
          target: name.toLowerCase(),
          details: { token_id: issued.record.id },
          update_id: kit.updateOf(ctx),
        });
        return issued;
      });
      const until = formatHumanMoment(record.expires_at, settings.timezone, kit.now());
      await ctx.reply(TEXTS.tokenIssued(`https://t.me/${deps.botUsername()}?start=vip_${token}`, tariff.days, until));
    }),
  );

  composer.command(
    'revocar',
    kit.guarded('manage_subscriptions', async (ctx, [text]) => {
      const ref = text ? tokenRef(text) : undefined;
      if (!ref) return ctx.reply(text ? TEXTS.badTokenRef : TEXTS.usage(TEXTS.help.revocar?.[0] ?? '/revocar'));
      let record: Awaited<ReturnType<typeof deps.tokens.revoke>>;
      try {
        record = await deps.tokens.revoke(ref, 'vip');
      } catch (error) {
        if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_USED)) return ctx.reply(TEXTS.revokeUsed);
        if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_EXPIRED)) return ctx.reply(TEXTS.revokeExpired);
        if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_REVOKED)) return ctx.reply(TEXTS.revokeRevoked);
        if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_UNKNOWN)) return ctx.reply(TEXTS.revokeUnknown);
        if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_MALFORMED)) return ctx.reply(TEXTS.badTokenRef);
        throw error;
      }
      const tariffId = String((record.data as { tariff_id?: unknown }).tariff_id ?? '');
      const [tariff] = /^[0-9a-f-]{36}$/.test(tariffId)
        ? await db.sql<{ name: string }[]>`select name from admin_tariffs where id = ${tariffId}`
        : [];
      const name = tariff?.name ?? '?';
      await kit.audit({
        actor: kit.actorOf(ctx),
        action: 'revoke_token',
        target: name,
        details: { token_id: record.id },
      });
      await ctx.reply(TEXTS.tokenRevoked(name));
    }),
  );
}

/** What staff paste to name a VIP link: the link, `vip_<token>`, the token, or the token's id. */
function tokenRef(text: string): { token: string } | { id: string } | undefined {
  const token = /^(?:https:\/\/t\.me\/[A-Za-z0-9_]{1,64}\?start=)?(?:vip_)?([A-Za-z0-9_-]{32})$/.exec(text)?.[1];
  if (token) return { token };
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) return { id: text.toLowerCase() };
  return undefined;
}
