// Everything that answers an update once the app's middleware has run: command buttons, the
// app's own commands, the modules (admin first: it owns `/start vip_…` deep links) and the
// fallback. Command buttons and unowned deep links run these same handlers again, as a command.
import type { CallbackSigner } from '@diana/security';
import type { Logger } from '@diana/utils';
import { Composer, type Middleware } from 'grammy';
import { entryCommands, fallback } from './entry.js';
import { asCommand, commandButtons } from './main-menu.js';
import type { AppContext } from './middleware.js';
import { type ProfileSources, profileCommand } from './profile.js';

/** What the handlers need. */
export interface HandlersDeps {
  readonly signer: CallbackSigner;
  readonly logger: Logger;
  /** Where /perfil reads besitos, streak and VIP expiry. */
  readonly profile: ProfileSources;
  /** The bot's days (VIP expiry dates). */
  readonly timezone: string;
  /** The modules' composers, in the order they answer. */
  readonly modules: readonly Middleware<AppContext>[];
}

/** The bot's handlers, in the order they answer. */
export function createHandlers(deps: HandlersDeps): Composer<AppContext> {
  const handlers = new Composer<AppContext>();
  const run = async (ctx: AppContext, command: string) => {
    await handlers.middleware()(asCommand(ctx, command), async () => {});
  };
  handlers.use(
    commandButtons(run),
    entryCommands(deps.signer),
    profileCommand(deps.profile, { timezone: deps.timezone }),
    ...deps.modules,
    fallback({ signer: deps.signer, logger: deps.logger, restart: (ctx) => run(ctx, 'start') }),
  );
  return handlers;
}
