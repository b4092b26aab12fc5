import { describe, expect, it } from 'vitest';
import { dashboardMetricNames, exportedMetricNames, promqlMetricNames } from './promql.js';

describe('metric names of the dashboard test', () => {
  it('reads the metric names a PromQL expression selects, not its functions, labels or variables', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le, kind) (rate(diana_bot_handler_duration_bucket{kind=~"command|message"}[$__rate_interval])))',
      ),
    ).toEqual(['diana_bot_handler_duration_bucket']);
    expect(
      promqlMetricNames(
        'sum(rate(diana_cache_hits_total[5m])) / (sum(rate(diana_cache_hits_total[5m])) + sum without (tier) (rate(diana_cache_misses_total[5m])))',
      ),
    ).toEqual(['diana_cache_hits_total', 'diana_cache_misses_total']);
    expect(promqlMetricNames('max by (type, group) (diana_events_consumer_lag) > bool 100')).toEqual([
      'diana_events_consumer_lag',
    ]);
    expect(promqlMetricNames('up{job="diana"} unless on (instance) target_info')).toEqual(['up', 'target_info']);
  });

  it('collects the expressions of nested panels and reads sample names from the exposition', () => {
    const dashboard = {
      panels: [
        { type: 'row', panels: [{ targets: [{ expr: 'diana_loop_running' }] }] },
        { targets: [{ expr: 'rate(diana_events_acked_total[1m])' }, { expr: 'diana_loop_running' }] },
      ],
    };
    expect(dashboardMetricNames(dashboard).sort()).toEqual(['diana_events_acked_total', 'diana_loop_running']);
    const text = '# HELP x y\n# TYPE x counter\nx_total{a="b"} 1\nup 1\ntarget_info{service_name="s"} 1\n';
    expect(exportedMetricNames(text)).toEqual(['x_total', 'up', 'target_info']);
  });
});
