/**
 * Prometheus metrics in the text exposition format (version 0.0.4), kept in process memory: counters
 * and histograms with labels, rendered on `GET /admin/metrics/prometheus`. Each process counts its own;
 * with `serve --workers` the answering worker adds up every worker's (`cluster-metrics.ts`).
 */

type Labels = Record<string, string>;

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function labelKey(names: readonly string[], labels: Labels): string {
  // A loop, not map().join(): this runs twice for every HTTP request.
  let key = '';
  for (let i = 0; i < names.length; i++) key += `${i === 0 ? '' : '\u0000'}${labels[names[i] as string] ?? ''}`;
  return key;
}

function labelsByName(names: readonly string[], values: readonly string[]): Labels {
  const labels: Labels = {};
  names.forEach((name, i) => {
    labels[name] = values[i] ?? '';
  });
  return labels;
}

function renderLabels(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  return String(value);
}

/** One labelled series of a counter, as copied between processes. */
export interface CounterSeries {
  labels: string[];
  value: number;
}
/** One labelled series of a histogram, as copied between processes. */
export interface HistogramSeries {
  labels: string[];
  counts: number[];
  sum: number;
  count: number;
}
/** Every metric's series by metric name: what a cluster worker hands over to be added up. */
export type MetricsSnapshot = Record<string, CounterSeries[] | HistogramSeries[]>;

interface Metric {
  readonly name: string;
  render(): string;
  snapshot(): CounterSeries[] | HistogramSeries[];
  absorb(series: CounterSeries[] | HistogramSeries[]): void;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: string[]; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(this.labelNames, labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: this.labelNames.map((name) => labels[name] ?? ''), value: by });
  }

  /** The current value for these labels (0 when never counted). */
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels))?.value ?? 0;
  }

  snapshot(): CounterSeries[] {
    return [...this.values.values()].map(({ labels, value }) => ({ labels: [...labels], value }));
  }

  /** Adds another process's series to this one's. */
  absorb(series: CounterSeries[]): void {
    for (const { labels, value } of series) this.inc(labelsByName(this.labelNames, labels), value);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values())
      lines.push(`${this.name}${renderLabels(this.labelNames, labels)} ${formatNumber(value)}`);
    return lines.join('\n');
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: string[]; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
    readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labelKey(this.labelNames, labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels: this.labelNames.map((name) => labels[name] ?? ''), counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) entry.counts[i] = (entry.counts[i] ?? 0) + 1;
    entry.sum += value;
    entry.count += 1;
  }

  /** Observations made with these labels. */
  count(labels: Labels): number {
    return this.series.get(labelKey(this.labelNames, labels))?.count ?? 0;
  }

  snapshot(): HistogramSeries[] {
    return [...this.series.values()].map(({ labels, counts, sum, count }) => ({ labels: [...labels], counts: [...counts], sum, count }));
  }

  /** Adds another process's series to this one's (the same buckets: both come from this class). */
  absorb(series: HistogramSeries[]): void {
    for (const other of series) {
      const key = labelKey(this.labelNames, labelsByName(this.labelNames, other.labels));
      const entry = this.series.get(key);
      if (!entry) {
        this.series.set(key, { labels: [...other.labels], counts: [...other.counts], sum: other.sum, count: other.count });
        continue;
      }
      for (let i = 0; i < entry.counts.length; i++) entry.counts[i] = (entry.counts[i] ?? 0) + (other.counts[i] ?? 0);
      entry.sum += other.sum;
      entry.count += other.count;
    }
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${renderLabels(this.labelNames, labels, `le="${formatNumber(bound)}"`)} ${counts[i] ?? 0}`);
      });
      lines.push(`${this.name}_bucket${renderLabels(this.labelNames, labels, 'le="+Inf"')} ${count}`);
      lines.push(`${this.name}_sum${renderLabels(this.labelNames, labels)} ${formatNumber(sum)}`);
      lines.push(`${this.name}_count${renderLabels(this.labelNames, labels)} ${count}`);
    }
    return lines.join('\n');
  }
}

/** Every metric Portcullis exposes; one instance per registry. */
export class Metrics {
  readonly httpRequests = new Counter(
    'portcullis_http_requests_total',
    'HTTP requests answered, by listener, method, route pattern and status.',
    ['listener', 'method', 'route', 'status'],
  );
  readonly httpDuration = new Histogram(
    'portcullis_http_request_duration_seconds',
    'Time to answer HTTP requests, by listener, method and route pattern.',
    ['listener', 'method', 'route'],
  );
  readonly tokensIssued = new Counter('portcullis_tokens_issued_total', 'Token responses issued by the token endpoint, by grant type.', [
    'grant_type',
  ]);
  readonly tokenHookCalls = new Counter(
    'portcullis_token_hook_calls_total',
    'Token hook calls, by hook (token_hook, refresh_token_hook) and outcome (ok: claims replaced, unchanged: 204, denied: 403, failed).',
    ['hook', 'outcome'],
  );
  readonly tokenHookDuration = new Histogram('portcullis_token_hook_duration_seconds', 'Time the token hooks took to answer, by hook.', [
    'hook',
  ]);
  readonly flowsStarted = new Counter(
    'portcullis_flows_started_total',
    'Browser flows started (flow="authorization": authorization requests sent to the login app; flow="device": device verifications begun).',
    ['flow'],
  );
  readonly flowsCompleted = new Counter(
    'portcullis_flows_completed_total',
    'Browser flows completed (flow="authorization": authorization requests answered to the client after an accepted consent).',
    ['flow'],
  );
  readonly janitorRuns = new Counter('portcullis_janitor_runs_total', 'Janitor runs, by outcome (ok, failed).', ['outcome']);
  readonly janitorDeleted = new Counter('portcullis_janitor_deleted_rows_total', 'Rows the janitor deleted, by table.', ['table']);

  private readonly all: Metric[] = [
    this.httpRequests,
    this.httpDuration,
    this.tokensIssued,
    this.tokenHookCalls,
    this.tokenHookDuration,
    this.flowsStarted,
    this.flowsCompleted,
    this.janitorRuns,
    this.janitorDeleted,
  ];

  render(): string {
    return `${this.all.map((metric) => metric.render()).join('\n')}\n`;
  }

  /** Every series, to be added up with other processes' (`serve --workers`). */
  snapshot(): MetricsSnapshot {
    return Object.fromEntries(this.all.map((metric) => [metric.name, metric.snapshot()]));
  }

  /** Adds a snapshot from another process; metrics this version does not know are left out. */
  absorb(snapshot: MetricsSnapshot): void {
    for (const metric of this.all) {
      const series = snapshot[metric.name];
      if (series) metric.absorb(series);
    }
  }
}
