import { type Attributes, metrics } from '@opentelemetry/api';

/** Instruments of the meter `@diana/security`. */
export interface SecurityMetrics {
  rateDecision(action: string, allowed: boolean, degraded: boolean): void;
}

/** Instruments on the global meter (a no-op until the app installs an SDK). */
export function createSecurityMetrics(): SecurityMetrics {
  const meter = metrics.getMeter('@diana/security');
  const decisions = meter.createCounter('diana.security.rate_limit.decisions', {
    description: 'Rate-limit decisions by action, result and whether the insurance limiter made them',
  });
  // the four attribute sets of each action, made once (this is on every call's path)
  const attributes = new Map<string, Attributes[]>();
  const attributesOf = (action: string) => {
    let sets = attributes.get(action);
    if (!sets) {
      sets = [false, true].flatMap((degraded) =>
        ['limited', 'allowed'].map((result) => Object.freeze({ action, result, degraded })),
      );
      attributes.set(action, sets);
    }
    return sets;
  };
  return {
    rateDecision(action, allowed, degraded) {
      decisions.add(1, attributesOf(action)[(degraded ? 2 : 0) + (allowed ? 1 : 0)]);
    },
  };
}
