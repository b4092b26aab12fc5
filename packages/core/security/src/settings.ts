import { parseOrThrow } from '@diana/utils';
import { SecurityConfig, type SecurityConfigInput } from './config.js';
import { SECURITY_ERROR_CODES } from './errors.js';

/** `config` checked against `SecurityConfig` (`E_SECURITY_CONFIG` listing every issue). */
export function parseSecurityConfig(config: SecurityConfigInput): SecurityConfig {
  return parseOrThrow(SecurityConfig, config, {
    code: SECURITY_ERROR_CODES.SECURITY_CONFIG,
    message: 'invalid security config',
  });
}
