// Every user-facing string of the module (Spanish, as the bot speaks).
export const TEXTS = Object.freeze({
  narrator: { lucien: 'Lucien', diana: 'Diana' } as Record<string, string>,
  continue: 'Continuar ➜',
  welcome: 'Bienvenido a la casa de Diana.',
  resume: 'Seguimos donde lo dejaste.',
  theEnd: 'Por ahora, la historia termina aquí. Vuelve pronto.',
  stale: 'Ese momento ya pasó.',
  locked: 'Esta puerta sigue cerrada. Te falta:',
  lockedWayBack: 'Cuando lo tengas, vuelve con /historia: la historia te espera donde la dejaste.',
  missingVip: 'ser VIP (El Diván es solo para VIP)',
  becomeVip:
    'El Diván se abre con una suscripción VIP activa. Si quieres volver (o entrar por primera vez), pide tu invitación VIP: es un enlace de un solo uso que te abre la puerta en cuanto lo pulsas.',
  vipButton: 'Hazme VIP',
  missingRole: (role: string) => `tener el rol «${role}»`,
  missingBesitos: (n: number) => `tener al menos ${n} besitos (míralos con /saldo; /regalo te da más cada día)`,
  missingItem: (item: string) => `el objeto «${item}» (mira la /tienda)`,
  missingClue: (clue: string) => `la pista «${clue}»: búscala en la historia, o mira si está en la /tienda`,
  missingCompleted: (fragment: string) => `completar «${fragment}»`,
  missingFlag: (flag: string) => `haber vivido «${flag}»`,
  missingAnyOf: (options: string[]) => `una de estas cosas: ${options.join('; ')}`,
  backpackEmpty: 'Tu mochila está vacía. Las pistas aparecen cuando uno sabe mirar.',
  backpackTitle: 'Tu mochila',
});
