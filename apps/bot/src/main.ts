// The bot's entry (`pnpm start`, `node dist/main.js`): stop signals are taken from the first
// moment, then the bot's code loads and runs (run.ts).
import { installEarlyExit } from './early-exit.js';

installEarlyExit();
await import('./run.js');
