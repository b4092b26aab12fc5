// Every user-facing string of the module (Spanish, as the bot speaks).
export const TEXTS = Object.freeze({
  usage: (usage: string) => `Uso: ${usage}`,
  noSuchUser: 'No encuentro a ese usuario.',
  roleForbidden: 'No puedes dar ese rol (ni a nadie por encima de ti).',
  roleChanged: (who: string, role: string) => `${who} ahora es ${role}.`,
  tariffCreated: (name: string, days: number, price: number) => `Tarifa ${name}: ${days} días, ${price}.`,
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
  badTime: 'La hora debe ser AAAA-MM-DD HH:MM y estar en el futuro.',
  configList: (lines: string[]) => lines.join('\n'),
  configDone: (key: string, revision: number) => `${key} publicado (revisión ${revision}).`,
  configInvalid: (issues: string) => `Valor no válido: ${issues}`,
  badAmount: (text: string, reason: 'not_digits' | 'zero' | 'too_large', max: number) =>
    `Cantidad no válida (${text}): ${
      reason === 'zero'
        ? 'debe ser al menos 1'
        : reason === 'too_large'
          ? `como mucho ${max}`
          : 'escríbela solo con cifras 0-9, sin signos, decimales ni espacios'
    }. Nada se ha registrado.`,
  granted: (amount: number, who: string) => `${amount > 0 ? '+' : ''}${amount} besitos para ${who}.`,
  replayed: (n: number) => `Reenviados ${n} eventos.`,
});
