import { describe, expect, it } from 'vitest';
import { isGreeting } from '../src/entry.js';

describe('isGreeting', () => {
  it('knows a greeting whatever its accents, case and punctuation', () => {
    for (const text of ['hola', '¡Hola!', 'HOLA Diana', 'buenas', 'Buenos días', 'buenas noches :)', 'Qué tal', 'hey'])
      expect(isGreeting(text), text).toBe(true);
  });

  it('is not fooled by words that merely start alike', () => {
    for (const text of ['holanda', 'quiero entrar', 'buenisimo', '/start', ''])
      expect(isGreeting(text), text).toBe(false);
  });
});
