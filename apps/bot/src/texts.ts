// Every user-facing string of the app itself (Spanish, as the bot speaks); the modules keep their own.
import { html } from '@diana/security';

const days = (n: number) => `${n} ${n === 1 ? 'día' : 'días'}`;

export const TEXTS = Object.freeze({
  /** The answer to whatever no module handles (with the main menu under it). */
  help: 'No te he entendido. Elige una opción del menú o escribe /ayuda para ver todo lo que puedes hacer.',
  /** A new user's first words, or a "hola" (HTML). */
  greeting: (name: string) =>
    html`¡Hola, ${name}! Te damos la bienvenida a la casa de Diana.\n\n` +
    'Aquí vives una historia que cuentan Lucien, el mayordomo, y Diana, la dueña de la casa. ' +
    'Tus decisiones te dan besitos, que puedes cambiar en la tienda. Empieza con /historia o elige abajo.',
  greetingAgain: (name: string) => html`¡Hola de nuevo, ${name}! ¿Qué te apetece hacer?`,
  /** An update dropped because the user already has several waiting (the chat queue). */
  busy: 'Un momento: aún estoy con lo anterior. Vuelve a intentarlo en unos segundos.',
  /** A press of one of the user's buttons outside their private chat (a message forwarded to a group). */
  openInPrivate: 'Este botón solo funciona en nuestro chat privado: ábreme en privado y pulsa allí.',
  menuTitle: '¿Qué te apetece hacer?',
  helpTitle: '<b>Qué puedes hacer aquí</b>',
  helpLine: (command: string, description: string) => html`/${command} — ${description}`,
  helpStaff: (role: string) =>
    html`Tu rol es «${role}»: tienes también comandos de administración, y /admin te los muestra.`,
  helpFooter: 'Los comandos valen en mayúsculas o minúsculas. También puedes usar los botones de abajo.',
  /** The main menu's buttons, by command. */
  buttons: Object.freeze({
    historia: '📖 Historia',
    mochila: '🎒 Mochila',
    saldo: '💋 Saldo',
    regalo: '🎁 Regalo',
    tienda: '🛍 Tienda',
    misiones: '🎯 Misiones',
    perfil: '👤 Perfil',
    menu: '☰ Menú',
  } as Record<string, string>),
  profileTitle: '<b>Tu perfil</b>',
  profileName: (name: string) => html`👤 ${name}`,
  profileRole: (role: string) => html`🎭 Rol: ${role}`,
  profileVip: (until: string) => `💎 VIP hasta el ${until}`,
  profileBalance: (besitos: string) => `💋 ${besitos}`,
  profileStreak: (n: number) =>
    n > 0
      ? `🎁 Racha de regalos diarios: ${days(n)}`
      : '🎁 Racha de regalos diarios: ninguna todavía (empieza hoy con /regalo)',
});
