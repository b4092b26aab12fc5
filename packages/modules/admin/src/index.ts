// Staff commands by permission (for /admin and the app's command menu)
export { STAFF_COMMANDS, staffCommandMenu, staffCommandsFor } from './commands/help.js';
// Events
export { ADMIN_EVENTS } from './events.js';
// Ids typed by staff
export { ADMIN_ERROR_CODES, parseTelegramId } from './ids.js';
export { ADMIN_MIGRATIONS } from './migrations.js';
export type { AdminContext, AdminDeps, AdminModule, AdminSettings } from './module.js';
// The module
export { createAdminModule } from './module.js';
// Long replies as several messages
export { MESSAGE_LIMIT, splitMessage } from './paging.js';
export { TEXTS } from './texts.js';
// Time in the bot's timezone
export { formatHumanDate, formatHumanMoment, formatLocalTime, parseLocalTime } from './time.js';
