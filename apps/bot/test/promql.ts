// Metric names on both sides of the dashboard test: the series a Prometheus text exposition
// holds, and the metrics the PromQL queries of a Grafana dashboard select.

/** Names of the samples in Prometheus text format (comments skipped), each once. */
export function exportedMetricNames(text: string): string[] {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (match?.[1]) names.add(match[1]);
  }
  return [...names];
}

// PromQL words that are not metric names: aggregation modifiers, operators, keywords.
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** Metric names one PromQL expression selects. */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\$\{?\w+\}?/g, '') // Grafana variables
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = match[0];
    const after = stripped.slice((match.index ?? 0) + word.length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(word.toLowerCase())) continue; // a function call
    names.add(word);
  }
  return [...names];
}

/** Every metric name the `expr` of any panel target (nested rows included) selects, each once. */
export function dashboardMetricNames(dashboard: unknown): string[] {
  const names = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) for (const item of node) visit(item);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') for (const name of promqlMetricNames(value)) names.add(name);
        else visit(value);
      }
    }
  };
  visit(dashboard);
  return [...names];
}
