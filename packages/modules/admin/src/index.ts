// @diana/admin: staff commands, VIP subscriptions and tokens, scheduled posts, audit.

// The module
export type { JobsPass } from './jobs.js';
export type { AdminContext, AdminDeps, AdminModule, AdminSettings } from './module.js';
export { createAdminModule } from './module.js';

// Events and migrations
export { ADMIN_EVENTS } from './events.js';
export { ADMIN_MIGRATIONS } from './migrations.js';

// Staff commands by permission (for /admin and the app's command menu)
export { STAFF_COMMANDS, staffCommandMenu, staffCommandsFor } from './commands/help.js';

// Ids typed by staff, and errors
export { ADMIN_ERROR_CODES, parseTelegramId } from './ids.js';

// Time in the bot's timezone
export { formatHumanDate, formatHumanMoment, formatLocalTime, parseLocalTime } from './time.js';

// Texts, and long replies as several messages
export { TEXTS } from './texts.js';
export { MESSAGE_LIMIT, splitMessage } from './paging.js';
