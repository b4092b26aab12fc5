// Role names as staff type and read them: Spanish (and the English names the bot stores), any case.
import type { UserRole } from '@diana/db';

/** What staff may type for each role (lower case, without accents). */
const NAMES: Readonly<Record<string, UserRole>> = Object.freeze({
  propietario: 'OWNER',
  owner: 'OWNER',
  administrador: 'ADMIN',
  admin: 'ADMIN',
  moderador: 'MODERATOR',
  moderator: 'MODERATOR',
  creador: 'CONTENT_CREATOR',
  creador_de_contenido: 'CONTENT_CREATOR',
  content_creator: 'CONTENT_CREATOR',
  vip: 'VIP',
  gratuito: 'FREE',
  free: 'FREE',
});

/** The role `text` names ("Moderador", "MODERATOR", "creador"), or undefined. BANNED is `/ban`'s. */
export function parseRoleName(text: string): UserRole | undefined {
  const key = text
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase();
  return Object.hasOwn(NAMES, key) ? NAMES[key] : undefined;
}
