// Every user-facing string of the module (Spanish, as the bot speaks). Amounts arrive already
// formatted by `formatBesitos` ("1 besito", "5 besitos"); texts interpolated into HTML messages
// are escaped by the caller (`html`).
export const TEXTS = Object.freeze({
  balance: (besitos: string) => `Tienes <b>${besitos}</b> 💋`,
  dailyPaid: (amount: string, streak: number) =>
    `Tu regalo de hoy: <b>${amount}</b> 🎁${streak > 1 ? ` (racha de ${streak} días)` : ''}`,
  dailyBalance: (besitos: string) => `Ahora tienes ${besitos}.`,
  dailyOff: 'El regalo diario está en pausa ahora mismo. Vuelve a mirar otro día.',
  dailyCapped: 'Hoy ya has llegado a tu límite de besitos. Vuelve mañana.',
  dailyWait: (wait: string) => `Ya has recogido tu regalo. El próximo estará listo en ${wait}.`,
  /** Where the story goes on: a command link (the story belongs to another module). */
  storyHint: 'Sigue la historia con /historia.',
  reacted: '¡Gracias! 💋',
  /** Past the reactions paid a day (the answer of the button, at most 200 characters). */
  reactedUnpaid: '¡Gracias! 💋 Por hoy tus reacciones ya no suman besitos: mañana vuelven a contar.',
  alreadyReacted: 'Ya habías reaccionado a esta publicación.',
  /** A reader who never wrote to the bot (no user: not registered from a channel, on purpose). */
  reactStranger: 'Para que tus reacciones cuenten, escríbeme antes en privado: abre el bot y pulsa /start. 💋',
  reactButton: '💋 Me gusta',
  shopTitle: '<b>La tienda de Diana</b>',
  shopBalance: (besitos: string) => `Tienes ${besitos}. Toca un artículo para comprarlo.`,
  shopItem: (name: string, price: string) => `${name} — ${price}`,
  shopItemOwned: (name: string) => `✓ ${name} — en tu mochila`,
  shopEmpty: 'La tienda está vacía por ahora. Vuelve pronto.',
  bought: (name: string) => `Es tuyo: ${name}.`,
  boughtMessage: (name: string, balance: string) => `🛍️ Compra hecha: <b>${name}</b>. Te quedan ${balance}.`,
  alreadyBought: 'Esa compra ya se hizo.',
  alreadyOwned: (name: string) => `Ya tienes ${name} en tu mochila: no se te cobra nada.`,
  objectsTitle: 'Tus objetos',
  noObjects: 'Aún no tienes objetos de la tienda. Tus pistas de la historia están en /mochila.',
  notEnough: (needed: string, balance: string) => `Te faltan besitos: cuesta ${needed} y tienes ${balance}.`,
  unknownItem: 'Ese artículo ya no está a la venta.',
  priceChanged: (name: string, price: string) =>
    `El precio de ${name} ha cambiado: ahora cuesta ${price}. No se te ha cobrado nada; aquí tienes la tienda al día.`,
  wait: (duration: string) => `Espera ${duration}.`,

  // next-step buttons
  buttons: Object.freeze({
    daily: '🎁 Regalo diario',
    shop: '🛍️ Tienda',
    seeShop: '🛍️ Ver tienda',
    backpack: '🎒 Mochila',
    history: '📜 Movimientos',
    older: '⏪ Anteriores',
    missions: '🎯 Misiones',
    achievements: '🏆 Logros',
    balance: '💋 Saldo',
  }),

  // /misiones
  missionsTitle: '<b>Tus misiones</b>',
  missionsEmpty: 'No hay misiones activas ahora mismo.',
  missionPeriod: Object.freeze({
    daily: 'hoy',
    weekly: 'esta semana',
    narrative: 'en la historia',
    special: 'especial',
  } as Record<string, string>),
  missionOpen: (title: string, count: number, target: number, period: string, reward: string) =>
    `▫️ ${title}: ${count}/${target} (${period})${reward ? ` · premio: ${reward}` : ''}`,
  missionDone: (title: string, period: string) => `✅ ${title} (${period}): cumplida`,

  // /logros
  achievementsTitle: (unlocked: number, total: number) => `<b>Tus logros</b> (${unlocked} de ${total})`,
  achievementsEmpty: 'Todavía no hay logros que conseguir.',
  achievementUnlocked: (title: string, date: string) => `🏆 ${title} · desde el ${date}`,
  achievementLocked: (title: string, count: number, threshold: number, how: string, reward: string) =>
    `🔒 ${title}: ${count}/${threshold}. ${how}${reward ? ` Premio: ${reward}.` : ''}`,
  /** How to move each counter, as missions and achievements name it. */
  howTo: Object.freeze({
    'channel.reaction_added': 'Reacciona a publicaciones del canal.',
    'narrative.decision_made': 'Toma decisiones en /historia.',
    'narrative.fragment_completed': 'Avanza en /historia.',
    'gamification.item_acquired': 'Compra en /tienda.',
  } as Record<string, string>),

  // /historial
  historyTitle: '<b>Tus últimos movimientos</b>',
  historyOlderTitle: '<b>Movimientos anteriores</b>',
  historyNoOlder: 'No hay movimientos más antiguos.',
  historyEmpty: 'Aún no tienes movimientos de besitos. Empieza con /regalo.',
  historyLine: (when: string, amount: string, why: string) => `${when} · <b>${amount}</b> · ${why}`,
  historyBalance: (besitos: string) => `Saldo: <b>${besitos}</b>`,
  /** Why a movement happened, by its ledger source. */
  source: Object.freeze({
    welcome: 'regalo de bienvenida',
    daily: 'regalo diario',
    decision: 'decisión en la historia',
    fragment: 'avance en la historia',
    reaction: 'reacción en el canal',
    admin: 'ajuste del equipo',
    mission: (title: string) => `misión «${title}»`,
    achievement: (title: string) => `logro «${title}»`,
    shop: (name: string) => `compra: ${name}`,
    other: (source: string) => source,
  }),
  adminNote: (note: string) => `ajuste del equipo: ${note}`,

  // what the user is told when paid (one message per payment)
  notice: Object.freeze({
    welcome: (amount: string) => `🎁 Tu regalo de bienvenida: <b>${amount}</b>. Úsalos en /tienda.`,
    // no balance in a notice: a message of notices ends with it (`balance`), read when they are
    // claimed — a step's rewards are paid one by one, not always in the order they are told
    decision: (amount: string) => `💋 +${amount} por tu decisión en la historia.`,
    fragment: (amount: string) => `💋 +${amount} por avanzar en la historia.`,
    mission: (title: string, amount: string) => `🎯 Misión cumplida: <b>${title}</b>. +${amount}.`,
    missionNoReward: (title: string) => `🎯 Misión cumplida: <b>${title}</b>.`,
    achievement: (title: string, amount: string) => `🏆 Logro conseguido: <b>${title}</b>. +${amount}.`,
    achievementNoReward: (title: string) => `🏆 Logro conseguido: <b>${title}</b>.`,
    /** The reward was not paid: the daily cap was reached first. */
    capped: ' Hoy ya has llegado a tu límite de besitos, así que esta vez no suma.',
    granted: (amount: string, reason: string) =>
      `🎁 El equipo te ha dado <b>${amount}</b>${reason ? `: ${reason}` : ''}.`,
    taken: (amount: string, reason: string) =>
      `El equipo te ha quitado <b>${amount}</b>${reason ? `: ${reason}` : ''}.`,
    /** The last line of a message of notices. */
    balance: (balance: string) => `Ahora tienes ${balance}.`,
  }),
});
