// Every user-facing string of the module (Spanish, as the bot speaks).
import { formatBesitos } from '@diana/utils';

export const TEXTS = Object.freeze({
  narrator: { lucien: 'Lucien', diana: 'Diana' } as Record<string, string>,
  continue: 'Continuar ➜',
  welcome: 'Te damos la bienvenida a la casa de Diana. Cuando quieras, /menu te enseña todo lo que puedes hacer aquí.',
  resume: 'Seguimos donde lo dejaste.',
  storyChanged:
    'La historia ha cambiado desde tu última visita y la escena en la que estabas ya no existe: sigues desde la última que viviste.',
  theEnd: 'Por ahora, la historia termina aquí: Diana prepara nuevas habitaciones. Vuelve pronto.',
  /** Where the free levels end and a reader who is not VIP stops (`vip` the VIP levels' titles). */
  freeEnd: (vip: string) =>
    `Aquí termina la parte gratuita de la historia.\n\nLo que sigue —${vip}— es solo para VIP: ` +
    'allí Diana se quita la máscara. Ser VIP te abre esos niveles, el canal privado y un límite diario de besitos más alto.',
  /** How to become VIP: with the offer's button, or without one. */
  freeEndHow: (button: boolean) =>
    button
      ? 'Pulsa «Hazme VIP» y pide tu invitación VIP: es un enlace de un solo uso que te abre la puerta en cuanto lo pulsas.'
      : 'Pide tu invitación VIP a quien lleva el canal: es un enlace de un solo uso que te abre la puerta en cuanto lo pulsas.',
  freeEndKept: 'Tu sitio queda guardado: cuando seas VIP, /historia te trae justo aquí.',
  stale: 'Ese momento ya pasó.',
  locked: 'Esta puerta sigue cerrada. Te falta:',
  lockedNotice: 'Esta puerta sigue cerrada.',
  lockedWayBack: 'Cuando lo tengas, vuelve con /historia: la historia te espera donde la dejaste.',
  missingVip: 'ser VIP (El Diván es solo para VIP)',
  becomeVip:
    'El Diván se abre con una suscripción VIP activa. Si quieres volver (o entrar por primera vez), pide tu invitación VIP: es un enlace de un solo uso que te abre la puerta en cuanto lo pulsas.',
  vipButton: 'Hazme VIP',
  storyButton: '📖 Seguir la historia',
  shopButton: '🛍 Ver la tienda',
  giftButton: '🎁 Mi regalo diario',
  menuButton: '☰ Menú',
  missingRole: (role: string) => `tener el rol «${role}»`,
  missingBesitos: (n: number) => `tener al menos ${formatBesitos(n)} (míralos con /saldo; /regalo te da más cada día)`,
  missingItem: (item: string) => `el objeto «${item}» (mira la /tienda)`,
  missingClue: (clue: string) => `la pista «${clue}»: búscala en la historia, o mira si está en la /tienda`,
  missingCompleted: (fragment: string) => `completar «${fragment}»`,
  missingFlag: (flag: string) => `haber vivido «${flag}»`,
  missingAnyOf: (options: string[]) => `una de estas cosas: ${options.join('; ')}`,
  backpackEmpty: 'Tu mochila está vacía. Las pistas aparecen cuando se sabe mirar.',
  backpackTitle: 'Tu mochila',
});
