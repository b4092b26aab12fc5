// Every user-facing string of the module (Spanish, as the bot speaks).

/** Role names counted: singular and plural. */
const ROLE_COUNTS: Readonly<Record<string, readonly [string, string]>> = {
  OWNER: ['propietario', 'propietarios'],
  ADMIN: ['administrador', 'administradores'],
  MODERATOR: ['moderador', 'moderadores'],
  CONTENT_CREATOR: ['creador de contenido', 'creadores de contenido'],
  VIP: ['VIP', 'VIP'],
  FREE: ['gratuito', 'gratuitos'],
  BANNED: ['baneado', 'baneados'],
};
export const TEXTS = Object.freeze({
  usage: (usage: string) => `Uso: ${usage}`,
  reasonTooLong: (length: number, max: number) =>
    `El motivo es demasiado largo: ${length} caracteres, y caben ${max}. Acórtalo y vuelve a enviar la orden; no se ha hecho nada.`,
  noSuchUser: 'No encuentro a ese usuario.',
  numericIdOnly:
    'Indica al usuario por su id numérico de Telegram, no por @usuario: los nombres de usuario cambian de dueño. /usuario @usuario te dice su id.',
  notAUserId: (text: string) =>
    `«${text}» no es un id de Telegram: solo cifras, como 123456789 (/usuario @usuario te dice el de alguien).`,
  roleForbidden: 'No puedes dar ese rol (ni a nadie por encima de ti).',
  roleOwn: (owner: boolean) =>
    owner
      ? 'No puedes cambiar tu propio rol: el de propietario viene de DIANA_BOT_OWNER_TELEGRAM_IDS (quítate de la lista y reinicia el bot).'
      : 'No puedes cambiar tu propio rol: tiene que hacerlo alguien por encima de ti.',
  roleChanged: (who: string, role: string) => `${who} tiene ahora el rol «${role}».`,
  /** `/rol … gratuito` on staff with a VIP subscription running: VIP until it ends. */
  roleVipInsteadOfFree: (who: string, until: string, telegram_id: number) =>
    `${who} tiene ahora el rol «VIP», no «gratuito»: su suscripción VIP sigue hasta el ${until}. Para quitársela: /cancelar_vip ${telegram_id} <motivo>.`,
  /** `/rol … gratuito` on a VIP whose subscription runs: nothing changes. */
  roleStaysVip: (who: string, until: string, telegram_id: number) =>
    `${who} sigue con el rol «VIP»: su suscripción VIP sigue hasta el ${until}. Para quitársela: /cancelar_vip ${telegram_id} <motivo>.`,
  badRole: (text: string) =>
    `«${text}» no es un rol: escribe uno de moderador, creador, vip o gratuito (o administrador, si eres OWNER).`,
  banned: (who: string) => `Has baneado a ${who}: el bot ya no le contesta.`,
  unbanned: (who: string, role: string) => `Has quitado el baneo a ${who}; su rol ahora es «${role}».`,
  alreadyBanned: (who: string) => `${who} ya estaba en la lista de baneos.`,
  notBanned: (who: string) => `${who} no está en la lista de baneos.`,
  banForbidden: 'No puedes banear a alguien de tu rango o superior.',
  tariffCreated: (name: string, days: number, price: string) =>
    `Tarifa ${name}: ${days} ${days === 1 ? 'día' : 'días'}, ${price}.`,
  badTariffName: (text: string) =>
    `El nombre de la tarifa («${text}») admite solo letras sin tilde, cifras y _, hasta 32 (por ejemplo mensual o vip_30).`,
  badTariffDays: (text: string) => `Los días («${text}») deben ser un número entero de 1 a 3650.`,
  badTariffPrice: (text: string) =>
    `El precio («${text}») debe ser una cantidad con hasta dos decimales, con coma o punto (por ejemplo 9,99).`,
  tariffExists: 'Ya existe una tarifa con ese nombre.',
  noSuchTariff: (names: readonly string[]) =>
    names.length > 0
      ? `No existe esa tarifa. Las que hay: ${names.join(', ')}.`
      : 'No existe esa tarifa: aún no hay ninguna. Crea una con /tarifa <nombre> <días> <precio>.',
  // the link's own life beside the subscription's: '30 días' alone read as how long the link lasts
  tokenIssued: (link: string, days: number, until: string) =>
    `Enlace VIP de un solo uso (${days === 1 ? '1 día' : `${days} días`} de VIP), válido hasta ${until}:\n${link}\nSi hace falta anularlo: /revocar seguido del enlace.`,
  redeemed: (until: string) => `¡Te damos la bienvenida al Diván! Tu suscripción VIP dura hasta el ${until}.`,
  redeemExtended: (until: string) => `Tu suscripción VIP se amplía: ahora dura hasta el ${until}.`,
  inviteLink: (link: string) => `Tu invitación al canal VIP (un solo uso): ${link}`,
  inviteLater:
    'Tu invitación al canal VIP no se ha podido crear ahora mismo: te la envío aquí en cuanto Telegram la dé.',
  tokenUsed: 'Este enlace ya se usó.',
  tokenExpired: 'Este enlace caducó. Pide uno nuevo.',
  tokenWasRevoked: 'Este enlace se anuló. Si crees que es un error, pide uno nuevo.',
  tokenUnknown: 'Este enlace no es válido.',
  // the end on the bot's calendar: `days` counted in its local days (2 or more), and the date
  reminder7d: (days: number, date: string) => `Tu suscripción VIP termina en ${days} días, el ${date}.`,
  // `when`: "hoy a las 10:00", "mañana a las 9:30" (formatHumanMoment); a fixed "mañana" was
  // wrong for an end later today
  reminder24h: (when: string) => `Tu suscripción VIP termina ${when}.`,
  farewell: 'Tu suscripción VIP ha terminado. El Diván te esperará cuando vuelvas.',
  vipCancelledToMember: 'Tu suscripción VIP se ha cancelado. Si crees que es un error, escribe a quien te la dio.',
  /**
   * `dropped`: the role went from VIP to FREE (staff keep theirs); `removal`: out of the VIP
   * channel, not yet (Telegram failed: the jobs try again; or another process has it in hand), or
   * nothing to do (no channel; or a renewal that came first).
   */
  vipCancelled: (
    who: string,
    until: string,
    dropped: boolean,
    removal: 'removed' | 'failed' | 'later' | 'renewed' | 'none',
  ) => {
    const what = [
      dropped ? 'ya no es VIP' : '',
      removal === 'removed' ? 'sale del canal' : '',
      removal === 'failed' ? 'Telegram no me ha dejado sacarle del canal todavía: lo reintento cada pocos minutos' : '',
      removal === 'later' ? 'sale del canal en unos minutos' : '',
    ]
      .filter(Boolean)
      .join(' y ');
    return `Cancelada la suscripción VIP de ${who} (iba hasta el ${until})${what ? `; ${what}` : ''}.`;
  },
  noRunningVip: (who: string) => `${who} no tiene una suscripción VIP en curso.`,
  scheduled: (when: string) => `Publicación programada para ${when}.`,
  badTime:
    'Uso: /programar AAAA-MM-DD HH:MM [id del chat] texto — una fecha y una hora que existan, con ese formato, por ejemplo 2026-12-24 20:30.',
  pastTime: (when: string) => `Esa hora (${when}) ya pasó: elige una hora en el futuro.`,
  noMainChannel:
    'No hay canal principal configurado (DIANA_ADMIN_MAIN_CHANNEL_ID): escribe el id del chat después de la hora.',
  noPostText: 'Falta el texto de la publicación, después de la hora (y del id del chat, si lo pones).',
  postTooLong: (length: number, max: number) =>
    `La publicación tiene ${length} caracteres y Telegram admite ${max} como máximo: acórtala y vuelve a programarla.`,
  badChatId:
    'Ese id de chat no es válido: solo cifras (con un «-» delante si es un canal), y no tan largo que se redondee.',
  channelForbidden: 'Solo puedes programar en los canales configurados; para otro chat hace falta un ADMIN.',
  configList: (lines: string[]) => lines.join('\n'),
  configDone: (key: string, revision: number) => `${key} publicado (revisión ${revision}).`,
  configInvalid: (key: string, issues: readonly string[]) =>
    `Valor no válido para ${key}:\n${issues.length > 0 ? issues.join('\n') : '(sin detalles)'}`,
  configIssue: (path: string, expected: string | undefined, received: string | undefined) =>
    `• ${path || 'el valor'}: ${expected ? `se esperaba ${expectedInSpanish(expected)}` : 'no es válido'}${received ? `, llegó ${received}` : ''}`,
  /** A key the template does not have (a typo): the keys it has there, when known. */
  configUnknownField: (path: string, known: readonly string[]) =>
    `• ${path}: esa clave no existe${known.length > 0 ? ` (las claves son ${known.join(', ')})` : ''}`,
  configNoKey: (key: string, keys: readonly string[]) => `No existe la clave «${key}». Claves: ${keys.join(', ')}.`,
  configNoValue: (key: string) => `${key} no tiene un valor publicado: usa el valor por defecto.`,
  configNoRevision: (key: string, text: string, count: number) =>
    `${key} no tiene la revisión «${text}»; sus revisiones van de #1 a #${count} (/config history ${key}), o default, el valor por defecto.`,
  configConflict: (key: string) => `Alguien más cambió ${key} a la vez: vuelve a intentarlo.`,
  dlqUnknownType: (type: string) => `No hay ningún tipo de evento «${type}» (p. ej. gamification.besitos_awarded).`,
  badAmount: (text: string, reason: 'not_digits' | 'zero' | 'too_large', max: number) =>
    `Cantidad no válida (${text}): ${
      reason === 'zero'
        ? 'debe ser al menos 1'
        : reason === 'too_large'
          ? `como mucho ${max}`
          : 'escríbela solo con cifras 0-9, sin signos, decimales ni espacios'
    }. Nada se ha registrado.`,
  granted: (amount: number, who: string) =>
    amount > 0
      ? `Pedido registrado: +${amount} besitos para ${who}. Te aviso en cuanto esté aplicado.`
      : `Pedido registrado: quitar hasta ${-amount} besitos a ${who} (el saldo nunca baja de 0). Te aviso de lo que se quite.`,
  adjustmentApplied: (who: string, requested: number, applied: number, balance: number) =>
    `Hecho: ${applied > 0 ? '+' : applied < 0 ? '−' : ''}${Math.abs(applied)} besitos para ${who}${
      applied !== requested
        ? ` (se pidieron ${requested > 0 ? '+' : '−'}${Math.abs(requested)}; el saldo no baja de 0)`
        : ''
    }. Saldo: ${balance}.`,
  replayed: (n: number) => (n === 1 ? 'Reenviado 1 evento.' : `Reenviados ${n} eventos.`),
  forbidden: 'No tienes permiso para hacer esto.',
  /** A staff command's update Telegram sent again: the first run did it, this one did nothing. */
  alreadyDone: 'Ya estaba hecho: esta orden ya se había procesado, no la repito.',

  // /admin
  helpHeader: (role: string) => `Tus comandos de staff (rol «${role}»):`,
  helpLine: (usage: string, summary: string) => `${usage} — ${summary}`,
  help: {
    admin: ['/admin', 'esta lista'],
    programar: ['/programar AAAA-MM-DD HH:MM [id del chat] texto', 'programa una publicación'],
    programados: ['/programados', 'publicaciones programadas pendientes'],
    cancelar_post: ['/cancelar_post <id>', 'cancela una publicación pendiente'],
    stats: ['/stats', 'usuarios, VIP y estado de los eventos'],
    usuario: ['/usuario <id | @usuario>', 'rol, saldo, VIP y última actividad de alguien'],
    auditoria: ['/auditoria', 'las últimas 10 acciones del staff'],
    ban: ['/ban <id> [motivo]', 'banea a un usuario'],
    unban: ['/unban <id> [motivo]', 'quita el baneo'],
    rol: ['/rol <id> <rol>', 'cambia el rol (moderador, creador, vip, gratuito…)'],
    tarifas: ['/tarifas', 'las tarifas VIP'],
    tarifa: ['/tarifa <nombre> <días> <precio>', 'crea una tarifa (p. ej. mensual 30 9,99)'],
    token: ['/token <tarifa>', 'crea un enlace VIP de un solo uso'],
    revocar: ['/revocar <enlace | token | id>', 'anula un enlace VIP sin canjear'],
    cancelar_vip: ['/cancelar_vip <id> <motivo>', 'termina ya una suscripción VIP'],
    besitos: ['/besitos <id> <cantidad> <motivo>', 'da besitos'],
    quitar_besitos: ['/quitar_besitos <id> <cantidad> <motivo>', 'quita besitos'],
    config: ['/config [set | history | rollback] <clave> …', 'ajustes en vivo'],
    dlq: ['/dlq list|replay|purge <tipo de evento>', 'eventos fallidos'],
  } as Readonly<Record<string, readonly [string, string]>>,
  helpFooter: 'Los usuarios se indican por su id numérico de Telegram (/usuario @usuario te lo dice).',

  // /programados, /cancelar_post
  noPendingPosts: 'No hay publicaciones programadas pendientes.',
  pendingPosts: (n: number) =>
    n === 1 ? '1 publicación programada pendiente:' : `${n} publicaciones programadas pendientes:`,
  postLine: (id: string, channel: string, when: string, preview: string) => `${id} · ${when} · ${channel} · ${preview}`,
  failedPosts: (n: number) =>
    n === 1
      ? '1 publicación no se pudo publicar (últimos 7 días):'
      : `${n} publicaciones no se pudieron publicar (últimos 7 días):`,
  failedPostLine: (line: string, why: string) => `${line} · ⚠️ fallida: ${why}`,
  /** To the post's creator, once, when the jobs give a scheduled post up. */
  postFailedNotice: (id: string, channel: string, when: string, preview: string, why: string) =>
    `No se ha podido publicar tu publicación ${id} (${channel}, ${when}): «${preview}». Telegram respondió: ${why}. No se volverá a intentar; /programados la muestra como fallida.`,
  postChannel: (channel: string, main: boolean, vip: boolean) =>
    main ? 'canal principal' : vip ? 'canal VIP' : `chat ${channel}`,
  badPostId: (text: string) =>
    `«${text}» no es el id de una publicación: usa el id corto que muestra /programados (8 caracteres, p. ej. 3f9a0c21).`,
  noSuchPost: (id: string) => `No hay ninguna publicación programada con el id ${id}.`,
  postNotPending: (id: string, status: string) =>
    `La publicación ${id} no se puede cancelar: ${
      status === 'publishing'
        ? 'se está publicando ahora mismo'
        : status === 'published'
          ? 'ya se publicó'
          : status === 'failed'
            ? 'ya se intentó publicar y falló'
            : 'ya estaba cancelada'
    }.`,
  postCancelled: (id: string, when: string) => `Cancelada la publicación ${id} (era para ${when}).`,
  postCancelForbidden: 'Solo un ADMIN puede cancelar publicaciones de chats fuera de los canales configurados.',

  // /tarifas
  noTariffs: 'Aún no hay tarifas. Crea una con /tarifa <nombre> <días> <precio>.',
  tariffsHeader: (n: number) => (n === 1 ? '1 tarifa:' : `${n} tarifas:`),
  tariffLine: (name: string, days: number, price: string) =>
    `• ${name}: ${days} ${days === 1 ? 'día' : 'días'}, ${price}`,

  // /revocar
  badTokenRef:
    'Indica el enlace VIP (https://t.me/…?start=vip_…), el token de 32 caracteres o el id del token que muestra /auditoria.',
  tokenRevoked: (tariff: string) => `Enlace revocado: ya no sirve para canjear la tarifa ${tariff}.`,
  revokeUsed: 'Ese enlace ya se canjeó: no se puede revocar (la suscripción sigue en curso).',
  revokeExpired: 'Ese enlace ya había caducado: nadie puede usarlo.',
  revokeRevoked: 'Ese enlace ya estaba revocado: nadie puede usarlo.',
  revokeUnknown: 'No existe ningún enlace VIP con ese token o id.',

  // /usuario
  userLookupUsage: '/usuario <id de Telegram | @usuario>',
  badUserRef: (text: string) => `«${text}» no es ni un id numérico de Telegram ni un @usuario.`,
  noSuchUsername: (name: string) => `Nadie con el nombre de usuario @${name} ha escrito al bot.`,
  userCard: (u: {
    name: string;
    username: string | null;
    telegram_id: number;
    role: string;
    balance: number | undefined;
    vip: string | undefined;
    last_seen: string | undefined;
    blocked: boolean;
  }) =>
    [
      `${u.name}${u.username ? ` (@${u.username})` : ''} · id ${u.telegram_id}`,
      `Rol: ${u.role}`,
      ...(u.balance !== undefined ? [`Saldo: ${u.balance} ${u.balance === 1 ? 'besito' : 'besitos'}`] : []),
      `VIP: ${u.vip ?? 'no'}`,
      `Última actividad: ${u.last_seen ?? 'nunca'}`,
      ...(u.blocked ? ['Ha bloqueado el bot: no le llegan mensajes.'] : []),
    ].join('\n'),
  vipUntil: (tariff: string, until: string) => `sí, hasta el ${until} (tarifa ${tariff})`,
  /** The VIP role given with /rol, no subscription behind it (it read «Rol: VIP» beside «VIP: no»). */
  vipByRole: 'sin suscripción: el rol VIP se puso con /rol y no vence',

  // /auditoria
  auditEmpty: 'El registro de auditoría está vacío.',
  auditLine: (when: string, who: string, what: string, reason: string) =>
    `${when.charAt(0).toUpperCase()}${when.slice(1)} · ${who} ${what}${reason ? ` (motivo: «${reason}»)` : ''}`,
  auditSystem: 'el sistema',
  auditWhat: (action: string, target: string, d: Readonly<Record<string, unknown>>): string => {
    const n = Number(d.replayed ?? d.purged ?? 0);
    const events = n === 1 ? '1 evento' : `${n} eventos`;
    switch (action) {
      case 'role':
        return `cambió el rol de ${target}: de «${String(d.from)}» a «${String(d.to)}»`;
      case 'ban':
        return `baneó a ${target}`;
      case 'unban':
        return `quitó el baneo a ${target} (ahora «${String(d.to)}»)`;
      case 'tariff':
        return `creó la tarifa ${target}`;
      case 'token':
        return `emitió un enlace VIP de la tarifa ${target}`;
      case 'revoke_token':
        return `revocó un enlace VIP de la tarifa ${target}`;
      case 'redeem':
        return `canjeó un enlace VIP (tarifa ${String(d.tariff ?? '?')})${d.extended === true ? ' y amplió su suscripción' : ''}`;
      case 'schedule_post':
        return `programó la publicación ${target}`;
      case 'cancel_post':
        return `canceló la publicación ${target}`;
      case 'config_set':
        return `cambió la configuración ${target}`;
      case 'config_rollback':
        return `devolvió ${target} a la revisión #${String(d.to)}`;
      case 'config_default':
        return `devolvió ${target} al valor por defecto`;
      case 'grant_besitos': {
        const amount = Number(d.amount);
        return amount >= 0 ? `pidió +${amount} besitos para ${target}` : `pidió quitar ${-amount} besitos a ${target}`;
      }
      case 'dlq_replay':
        return `reenvió ${events} de ${target}`;
      case 'dlq_purge':
        return `borró ${events} fallidos de ${target}`;
      case 'subscription_expired':
        return `cerró la suscripción VIP vencida de ${target}`;
      case 'subscription_cancelled':
        return `canceló la suscripción VIP de ${target}`;
      default:
        return `${action}${target ? ` ${target}` : ''}`;
    }
  },
  auditHeader: (n: number) => (n === 1 ? 'La última acción registrada:' : `Las últimas ${n} acciones registradas:`),

  // /dlq
  dlqUsage: '/dlq list|replay|purge <tipo de evento>',
  dlqEmpty: (type: string) => `No hay eventos fallidos de ${type}.`,
  dlqPurgeAsk: (type: string, n: number, total: number, last: string) =>
    `${total === 1 ? 'Hay 1 evento fallido' : `Hay ${total} eventos fallidos`} de ${type}. ${
      total > n ? `Se borrarán los ${n} más antiguos, sin reenviarse` : 'Se borrarán sin reenviarse'
    }. Para confirmarlo escribe:\n/dlq purge ${type} confirmar ${last}`,
  dlqPurgeChanged: 'Los eventos fallidos han cambiado desde la pregunta: no se ha borrado nada.',
  dlqPurged: (n: number) => (n === 1 ? 'Borrado 1 evento.' : `Borrados ${n} eventos.`),

  // /stats
  statsUsers: (users: number, vip: number) =>
    `Hay ${users === 1 ? '1 usuario' : `${users} usuarios`}; ${
      vip === 1 ? '1 tiene' : `${vip} tienen`
    } una suscripción VIP activa.`,
  statsRoles: (parts: readonly string[]) => `Por rol: ${parts.join(', ')}.`,
  roleCount: (role: string, n: number) => {
    const [one, many] = ROLE_COUNTS[role] ?? [role, role];
    return `${n} ${n === 1 ? one : many}`;
  },
  statsBesitos: (n: number) => `Entre todos tienen ${n} ${n === 1 ? 'besito' : 'besitos'}.`,
  statsEventsOk: 'Los eventos están al día: no hay ninguno esperando.',
  statsEventsBehind: (lines: readonly string[]) => `Eventos esperando:\n${lines.join('\n')}`,
  statsEventLine: (group: string, type: string, waiting: number, pending: number) =>
    `• ${group} ← ${type}: ${waiting} sin leer, ${pending} en curso`,
  statsEventsError: 'No he podido consultar la cola de eventos.',
  statsDeadLetters: (letters: ReadonlyArray<{ type: string; count: number }>) =>
    `Eventos fallidos sin entregar (/dlq list <tipo>):\n${letters
      .map(({ type, count }) => `• ${type}: ${count === 1 ? '1 evento' : `${count} eventos`}`)
      .join('\n')}`,
  statsChannelStuck: (lines: readonly string[], total: number) =>
    `Canal VIP: Telegram rechaza ${total === 1 ? '1 llamada' : `${total} llamadas`} una y otra vez (se siguen reintentando, como mucho cada hora; ¿le faltan permisos al bot en el canal?):\n${lines.join('\n')}${
      total > lines.length ? `\n… y ${total - lines.length} más` : ''
    }`,
  statsChannelStuckLine: (what: 'removal' | 'invite', telegramId: string, attempts: number, why: string | null) =>
    `• ${what === 'removal' ? 'sacar a' : 'invitar a'} ${telegramId}, ${attempts} intentos: ${why ?? 'sin respuesta'}`,

  // /config
  configUsage: '/config [<clave> | set <clave> <json> | history <clave> | rollback <clave> <revisión|default>]',
  configBadJson: (key: string) =>
    `El valor para ${key} no es JSON válido (p. ej. {"amount": 25}; los textos entre comillas dobles).`,
  configHistoryLine: (revision: number, when: string, action: string, actor: string, values: string) =>
    `#${revision} ${when} ${action} por ${actor}: ${values}`,
  configActions: {
    create: 'creada',
    update: 'editada',
    publish: 'publicada',
    archive: 'archivada',
    rollback: 'restaurada',
  } as Readonly<Record<string, string>>,
  configDefault: (key: string, values: string) => `${key} vuelve al valor por defecto: ${values}`,
  configAlreadyDefault: (key: string, values: string) => `${key} ya usa el valor por defecto: ${values}`,
});

// What a setting's schema expected (valibot's words: `number`, `>=0`, `"a" | "b"`), said in Spanish.
const EXPECTED_WORDS: Readonly<Record<string, string>> = {
  number: 'un número',
  integer: 'un número entero',
  'safe integer': 'un número entero',
  string: 'un texto',
  boolean: 'true o false',
  Object: 'un objeto JSON ({…})',
  Array: 'una lista ([…])',
};
const COMPARISONS: Readonly<Record<string, string>> = {
  '>=': 'como mínimo',
  '<=': 'como máximo',
  '>': 'más de',
  '<': 'menos de',
};

function expectedInSpanish(expected: string): string {
  const word = EXPECTED_WORDS[expected];
  if (word) return word;
  const comparison = /^(>=|<=|>|<)(.+)$/.exec(expected);
  if (comparison) return `${COMPARISONS[comparison[1] as string]} ${comparison[2]}`;
  if (expected.includes(' | ')) return `uno de ${expected.split(' | ').join(', ')}`;
  return expected;
}
