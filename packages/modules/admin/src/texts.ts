// Every user-facing string of the module (Spanish, as the bot speaks).
export const TEXTS = Object.freeze({
  usage: (usage: string) => `Uso: ${usage}`,
  noSuchUser: 'No encuentro a ese usuario.',
  numericIdOnly:
    'Indica al usuario por su id numérico de Telegram, no por @usuario: los nombres de usuario cambian de dueño.',
  roleForbidden: 'No puedes dar ese rol (ni a nadie por encima de ti).',
  roleChanged: (who: string, role: string) => `${who} tiene ahora el rol «${role}».`,
  badRole: (text: string) =>
    `«${text}» no es un rol: escribe uno de moderador, creador, vip o gratuito (o administrador, si eres OWNER).`,
  banned: (who: string) => `${who} está baneado: el bot ya no le contesta.`,
  unbanned: (who: string, role: string) => `${who} ya no está baneado (rol «${role}»).`,
  alreadyBanned: (who: string) => `${who} ya estaba baneado.`,
  notBanned: (who: string) => `${who} no está baneado.`,
  banForbidden: 'No puedes banear a alguien de tu rango o superior.',
  tariffCreated: (name: string, days: number, price: string) =>
    `Tarifa ${name}: ${days} ${days === 1 ? 'día' : 'días'}, ${price}.`,
  badTariffName: (text: string) =>
    `El nombre de la tarifa («${text}») admite solo letras sin tilde, cifras y _, hasta 32 (por ejemplo mensual o vip_30).`,
  badTariffDays: (text: string) => `Los días («${text}») deben ser un número entero de 1 a 3650.`,
  badTariffPrice: (text: string) =>
    `El precio («${text}») debe ser una cantidad con hasta dos decimales, con coma o punto (por ejemplo 9,99).`,
  tariffExists: 'Ya existe una tarifa con ese nombre.',
  noSuchTariff: 'No existe esa tarifa.',
  tokenIssued: (link: string, days: number) => `Enlace VIP de un solo uso (${days} días):\n${link}`,
  redeemed: (until: string) => `¡Bienvenido al Diván! Tu suscripción VIP dura hasta el ${until}.`,
  inviteLink: (link: string) => `Tu invitación al canal VIP (un solo uso): ${link}`,
  tokenUsed: 'Este enlace ya se usó.',
  tokenExpired: 'Este enlace ha caducado. Pide uno nuevo.',
  tokenUnknown: 'Este enlace no es válido.',
  reminder7d: 'Tu suscripción VIP termina en 7 días.',
  reminder24h: 'Tu suscripción VIP termina mañana.',
  farewell: 'Tu suscripción VIP ha terminado. El Diván te esperará cuando vuelvas.',
  scheduled: (when: string) => `Publicación programada para ${when}.`,
  badTime:
    'Uso: /programar AAAA-MM-DD HH:MM [id del chat] texto — la hora con ese formato, por ejemplo 2026-12-24 20:30.',
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
    `• ${path || 'el valor'}: ${expected ? `se esperaba ${expected}` : 'no es válido'}${received ? `, llegó ${received}` : ''}`,
  configNoKey: (key: string, keys: readonly string[]) => `No existe la clave «${key}». Claves: ${keys.join(', ')}.`,
  configNoValue: (key: string) => `${key} no tiene un valor publicado todavía.`,
  configNoRevision: (key: string, text: string, revisions: readonly number[]) =>
    `${key} no tiene la revisión «${text}»; sus revisiones son ${revisions.map((r) => `#${r}`).join(', ')}.`,
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
  replayed: (n: number) => `Reenviados ${n} eventos.`,
});
