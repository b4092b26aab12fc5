// What must hold after the run, read from the database, Redis and the recorded Bot API calls.
import type { Database } from '@diana/db';
import { checkLedgerInvariants } from '@diana/gamification';
import type { FakeTelegram } from '@diana/test-services';
import type { Cluster, Redis } from 'ioredis';
import type { Sent } from './driver.js';

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export async function checkInvariants(deps: {
  db: Database;
  redis: Redis | Cluster;
  /** Every key matching `pattern` (on a cluster: from every master). */
  keys: (pattern: string) => Promise<string[]>;
  stream_prefix: string;
  fake: FakeTelegram;
  sent: readonly Sent[];
  scheduled_posts: number;
  main_channel: number;
}): Promise<Check[]> {
  const { db, redis, fake } = deps;
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  const unanswered = deps.sent.filter((s) => s.finished === undefined);
  add(
    'every update answered (2xx)',
    unanswered.length === 0,
    `${deps.sent.length - unanswered.length}/${deps.sent.length} answered`,
  );

  const ledger = await checkLedgerInvariants(db);
  add(
    'ledger: balances = transactions, none negative',
    ledger.ok,
    ledger.ok ? 'holds' : ledger.problems.slice(0, 5).join('; '),
  );

  // every decision with a reward paid exactly once (or cut by the daily cap)
  const [awards] = await db.sql<{ events: number; paid: number; twice: number }[]>`
    select count(*)::int as events,
           count(t.id)::int as paid,
           (select count(*)::int from (select source_event_id from besitos_transactions group by 1 having count(*) > 1) d) as twice
    from event_outbox o left join besitos_transactions t on t.source_event_id = o.id::text
    where o.type = 'narrative.decision_made' and (o.envelope::jsonb -> 'payload' ->> 'reward')::int > 0`;
  const [capped] = await db.sql<{ n: number }[]>`
    select count(*)::int as n from event_outbox o
    where o.type = 'narrative.decision_made' and (o.envelope::jsonb -> 'payload' ->> 'reward')::int > 0
      and not exists (select 1 from besitos_transactions t where t.source_event_id = o.id::text)
      and (select coalesce(sum(amount), 0) from besitos_transactions t2
           where t2.user_id = (o.envelope::jsonb -> 'payload' ->> 'user_id')::uuid and t2.kind = 'earn' and t2.amount > 0) < 200`;
  add(
    'every award paid exactly once per source event',
    (awards?.twice ?? 1) === 0 && (capped?.n ?? 1) === 0,
    `${awards?.paid}/${awards?.events} decisions paid, ${awards?.twice} paid twice, ${capped?.n} unpaid below the cap`,
  );

  // every event handled by every subscribing group: nothing pending or unread, no dead letters
  const [outbox] = await db.sql<
    { n: number }[]
  >`select count(*)::int as n from event_outbox where published_at is null`;
  const problems: string[] = [];
  let groups = 0;
  for (const key of await deps.keys(`${deps.stream_prefix}{*}`)) {
    if (key.endsWith(':dlq')) {
      const dead = await redis.xlen(key);
      if (dead > 0) problems.push(`${key}: ${dead} dead letters`);
      continue;
    }
    if ((await redis.type(key)) !== 'stream') continue;
    const infos = (await redis.call('XINFO', 'GROUPS', key)) as unknown[];
    for (const info of infos) {
      const fields = Array.isArray(info) ? info : Object.entries(info as Record<string, unknown>).flat();
      const get = (name: string) => fields[fields.indexOf(name) + 1];
      groups++;
      if (Number(get('pending')) > 0 || Number(get('lag') ?? 0) > 0)
        problems.push(`${key} / ${get('name')}: pending ${get('pending')}, lag ${get('lag')}`);
    }
  }
  add(
    'every event handled by each group (outbox relayed, nothing pending, DLQ empty)',
    (outbox?.n ?? 1) === 0 && problems.length === 0,
    `${groups} groups; outbox unpublished ${outbox?.n}; ${problems.slice(0, 5).join('; ') || 'no problems'}`,
  );

  const [tokens] = await db.sql<{ used: number; subs: number; users: number }[]>`
    select (select count(*)::int from security_tokens where purpose = 'vip' and used_at is not null) as used,
           (select count(*)::int from admin_subscriptions) as subs,
           (select count(distinct used_by)::int from security_tokens where purpose = 'vip' and used_at is not null) as users`;
  add(
    'every redeemed token made one subscription',
    tokens?.subs === tokens?.users,
    `${tokens?.used} tokens redeemed by ${tokens?.users} users → ${tokens?.subs} subscriptions`,
  );

  // A user who writes to the bot has unblocked it (Telegram delivers nothing from a user who
  // blocked the bot), so a send is wrong when it follows their 403 while no update of theirs was
  // being delivered or handled (posted before the send, not answered before the 403).
  const updates = new Map<number, Sent[]>();
  for (const s of deps.sent) updates.set(s.from, [...(updates.get(s.from) ?? []), s]);
  const wroteBetween = (chat: number, from: number, to: number) =>
    (updates.get(chat) ?? []).some((s) => s.started < to && (s.finished ?? Number.POSITIVE_INFINITY) > from);
  let after403 = 0;
  const blockedAt = new Map<number, number>();
  for (const call of fake.calls) {
    const chat = call.payload.chat_id;
    if (typeof chat !== 'number') continue;
    const since = blockedAt.get(chat);
    if (since !== undefined && call.at > since && call.method.startsWith('send') && !wroteBetween(chat, since, call.at))
      after403++;
    if (call.status === 403) blockedAt.set(chat, call.at);
  }
  add(
    'no send to a user after their 403 (unless they wrote again)',
    after403 === 0,
    `${blockedAt.size} users blocked the bot; ${after403} sends after`,
  );

  const posts = fake.calls.filter(
    (c) => c.method === 'sendMessage' && c.payload.chat_id === deps.main_channel && c.status === 200,
  ).length;
  add(
    'each scheduled post published once',
    posts === deps.scheduled_posts,
    `${posts} published of ${deps.scheduled_posts} scheduled`,
  );
  return checks;
}
