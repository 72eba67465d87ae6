/**
 * Presentation of monitoring, pure and tested: what each alert kind watches and in which unit
 * its threshold reads, how bytes, fractions and durations are written, the order firing alerts
 * are listed in, and the sparklines' paths. The rules themselves live on the server.
 */
import type { AlertKind, AlertRule, AlertSeverity, AlertState, SystemSample } from './protocol'

// ------------------------------------------------------------------ numbers in words

const KB = 1e3
const MB = 1e6
const GB = 1e9
const TB = 1e12

/** Bytes in decimal units: 512 B, 1.5 kB, 340 MB, 12.4 GB, 1.20 TB (three significant digits). */
export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes)
  const scaled = (n: number, unit: string) => `${n >= 100 ? n.toFixed(0) : n.toPrecision(3)} ${unit}`
  if (abs >= TB)
    return scaled(bytes / TB, 'TB')
  if (abs >= GB)
    return scaled(bytes / GB, 'GB')
  if (abs >= MB)
    return scaled(bytes / MB, 'MB')
  if (abs >= KB)
    return scaled(bytes / KB, 'kB')
  return `${Math.round(bytes)} B`
}

/** 0.5 -> "50 %", 0.125 -> "12.5 %". */
export function formatPercent(fraction: number): string {
  const p = fraction * 100
  return Math.abs(p - Math.round(p)) < 0.05 ? `${Math.round(p)} %` : `${p.toFixed(1)} %`
}

/** Seconds as "0 s", "45 s", "10 min", "1 h 30 min", "2 d" (whole units; exact below a minute). */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, seconds)
  if (s < 60)
    return `${Number.isInteger(s) ? s : s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  const rest = Math.round(s % 60)
  if (m < 60)
    return rest ? `${m} min ${rest} s` : `${m} min`
  const h = Math.floor(m / 60)
  if (h < 48)
    return m % 60 ? `${h} h ${m % 60} min` : `${h} h`
  return `${Math.floor(h / 24)} d`
}

/** A plain measured value: three significant digits, no exponent for everyday sizes. */
export function formatValue(v: number): string {
  const abs = Math.abs(v)
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e7))
    return v.toExponential(2)
  if (abs >= 1000)
    return Math.round(v).toLocaleString('en-US')
  return Number(v.toPrecision(3)).toString()
}

// ------------------------------------------------------------------ alert kinds

/** How a kind's threshold is entered and read. */
export type ThresholdUnit = 'none' | 'fraction' | 'seconds' | 'bytes'

export interface KindInfo {
  label: string
  unit: ThresholdUnit
  /** What the threshold means, next to its input. */
  thresholdHelp: string
  /** Threshold a new rule of this kind starts with. */
  defaultThreshold: number
}

export const KIND_INFO: Record<AlertKind, KindInfo> = {
  nan_loss: {
    label: 'Loss not finite',
    unit: 'none',
    thresholdHelp: 'not used: fires whenever the TD loss is NaN or infinite',
    defaultThreshold: 0,
  },
  throughput_drop: {
    label: 'Throughput drop',
    unit: 'fraction',
    thresholdHelp: 'fires when env steps/s falls below this fraction of its recent median',
    defaultThreshold: 0.5,
  },
  checkpoint_stale: {
    label: 'Checkpoint stale',
    unit: 'seconds',
    thresholdHelp: 'fires when no checkpoint has been written for this long',
    defaultThreshold: 900,
  },
  greedy_drop: {
    label: 'Greedy survival drop',
    unit: 'fraction',
    thresholdHelp: 'fires when greedy survival falls by this fraction from the run\'s best',
    defaultThreshold: 0.3,
  },
  gpu_memory: {
    label: 'GPU memory high',
    unit: 'fraction',
    thresholdHelp: 'fires when a GPU\'s used memory is above this fraction of its total',
    defaultThreshold: 0.9,
  },
  disk_free: {
    label: 'Disk space low',
    unit: 'bytes',
    thresholdHelp: 'fires when free disk space is below this',
    defaultThreshold: 5 * GB,
  },
}

/** The rule's condition in words: "env steps/s below 50 % of its recent median". */
export function describeCondition(kind: AlertKind, threshold: number): string {
  switch (kind) {
    case 'nan_loss':
      return 'TD loss is NaN or infinite'
    case 'throughput_drop':
      return `env steps/s below ${formatPercent(threshold)} of its recent median`
    case 'checkpoint_stale':
      return `no checkpoint for ${formatSeconds(threshold)}`
    case 'greedy_drop':
      return `greedy survival below ${formatPercent(1 - threshold)} of the run's best`
    case 'gpu_memory':
      return `GPU memory above ${formatPercent(threshold)} used`
    case 'disk_free':
      return `free disk below ${formatBytes(threshold)}`
  }
}

/** How long the condition must hold: "at once" or "for 30 s". */
export function describeFor(seconds: number): string {
  return seconds <= 0 ? 'fires at once' : `for ${formatSeconds(seconds)}`
}

/** The value an alert last measured, in its kind's unit (null: nothing measured, or not finite). */
export function formatAlertValue(kind: AlertKind, value: number | null): string {
  if (value === null)
    return kind === 'nan_loss' ? 'not finite' : '–'
  switch (kind) {
    case 'gpu_memory':
      return `${formatPercent(value)} used`
    case 'disk_free':
      return `${formatBytes(value)} free`
    case 'checkpoint_stale':
      return formatSeconds(value)
    default:
      return formatValue(value)
  }
}

// --- the threshold input ---

export type ByteUnit = 'MB' | 'GB'
export const BYTE_UNITS: Record<ByteUnit, number> = { MB, GB }

export interface ThresholdInput {
  /** What the number input shows (a number input's v-model may hand back a number). */
  text: string | number
  /** For bytes: the unit the number is in. */
  byteUnit: ByteUnit
}

/** A stored threshold as the form shows it (bytes as MB or GB, whichever reads better). */
export function thresholdToInput(kind: AlertKind, threshold: number): ThresholdInput {
  if (KIND_INFO[kind].unit === 'bytes') {
    const byteUnit: ByteUnit = Math.abs(threshold) >= GB ? 'GB' : 'MB'
    return { text: String(Number((threshold / BYTE_UNITS[byteUnit]).toPrecision(6))), byteUnit }
  }
  return { text: String(threshold), byteUnit: 'GB' }
}

/** The form's threshold as the number the server stores, or why it is not one. */
export function thresholdFromInput(kind: AlertKind, input: ThresholdInput): { ok: true, value: number } | { ok: false, error: string } {
  const unit = KIND_INFO[kind].unit
  const text = String(input.text).trim()
  if (unit === 'none')
    return { ok: true, value: Number(text) || 0 }
  const n = Number(text)
  if (text === '' || !Number.isFinite(n))
    return { ok: false, error: `threshold: enter a number${unit === 'fraction' ? ' between 0 and 1' : ''}` }
  if (n < 0)
    return { ok: false, error: 'threshold: must not be negative' }
  if (unit === 'fraction' && n > 1)
    return { ok: false, error: `threshold: a fraction between 0 and 1 (e.g. ${(n / 100).toFixed(2)} for ${n} %)` }
  return { ok: true, value: unit === 'bytes' ? Math.round(n * BYTE_UNITS[input.byteUnit]) : n }
}

/** What the typed threshold means, beside the input: "= 50 %", "= 10 min", "= 5.00 GB". */
export function thresholdReadout(kind: AlertKind, input: ThresholdInput): string {
  const parsed = thresholdFromInput(kind, input)
  if (!parsed.ok || KIND_INFO[kind].unit === 'none')
    return ''
  switch (KIND_INFO[kind].unit) {
    case 'fraction':
      return kind === 'greedy_drop' ? `fires below ${formatPercent(1 - parsed.value)} of best` : `= ${formatPercent(parsed.value)}`
    case 'seconds':
      return `= ${formatSeconds(parsed.value)}`
    default:
      return `= ${formatBytes(parsed.value)}`
  }
}

/** A new rule's starting values. */
export function newRule(kind: AlertKind = 'throughput_drop'): AlertRule {
  return { name: '', kind, threshold: KIND_INFO[kind].defaultThreshold, for_seconds: 60, severity: 'warning', enabled: true }
}

// ------------------------------------------------------------------ firing alerts

export const SEVERITY_RANK: Record<AlertSeverity, number> = { critical: 0, warning: 1, info: 2 }

/** Firing alerts, most severe first, then the longest firing first. */
export function firingAlerts(alerts: readonly AlertState[]): AlertState[] {
  const since = (a: AlertState) => (a.since === null ? Number.POSITIVE_INFINITY : Date.parse(a.since))
  return alerts
    .filter(a => a.state === 'firing')
    .sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || since(a) - since(b) || a.name.localeCompare(b.name))
}

/** "14:03:22" for today, "3 Mar 14:03" otherwise (local time). */
export function formatClock(iso: string, now: number = Date.now()): string {
  const d = new Date(iso)
  const today = new Date(now)
  const hhmm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
  if (d.toDateString() === today.toDateString())
    return `${hhmm}:${String(d.getSeconds()).padStart(2, '0')}`
  return `${d.getDate()} ${d.toLocaleString('en-US', { month: 'short' })} ${hhmm}`
}

// ------------------------------------------------------------------ system samples

/** Samples kept by the page: an hour at one every 2 s. */
export const SYSTEM_HISTORY_LIMIT = 1800

/** Two runs of samples as one, oldest first, one per time `t` (the newer copy wins), capped. */
export function mergeSamples(kept: readonly SystemSample[], incoming: readonly SystemSample[], limit = SYSTEM_HISTORY_LIMIT): SystemSample[] {
  const last = kept.at(-1)
  // The usual case, one live sample after the rest: append.
  if (last && incoming.length === 1 && incoming[0]!.t > last.t)
    return [...kept, incoming[0]!].slice(-limit)
  const byTime = new Map<number, SystemSample>()
  for (const s of kept)
    byTime.set(s.t, s)
  for (const s of incoming)
    byTime.set(s.t, s)
  return [...byTime.values()].sort((a, b) => a.t - b.t).slice(-limit)
}

// --- sparklines ---

export interface SparkOptions {
  width: number
  height: number
  /** The y range; by default 0 to the largest value (10 % headroom). */
  min?: number
  max?: number
  /** The x range; by default the first to the last time. */
  from?: number
  to?: number
  /** At most this many points are drawn (evenly thinned, the last always kept). */
  maxPoints?: number
}

export interface SparkPaths {
  /** SVG path of the line (gaps where a value is null). */
  line: string
  /** The same, closed down to the baseline, for the fill. */
  area: string
  /** The newest point drawn, for its dot. */
  last: { x: number, y: number } | null
  /** Points drawn. */
  points: number
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}

/** Paths for a small line chart of `values` at `times`. */
export function sparkPaths(times: readonly number[], values: readonly (number | null)[], opts: SparkOptions): SparkPaths {
  const n = Math.min(times.length, values.length)
  const maxPoints = opts.maxPoints ?? 240
  const stride = n > maxPoints ? Math.ceil(n / maxPoints) : 1
  const idx: number[] = []
  for (let i = 0; i < n; i += stride)
    idx.push(i)
  if (n > 0 && idx.at(-1) !== n - 1)
    idx.push(n - 1)

  const present = idx.filter(i => values[i] !== null && Number.isFinite(values[i]))
  if (present.length === 0)
    return { line: '', area: '', last: null, points: 0 }
  const ys = present.map(i => values[i] as number)
  const lo = opts.min ?? Math.min(0, ...ys)
  let hi = opts.max ?? Math.max(...ys) * 1.1
  if (!(hi > lo))
    hi = lo + 1
  const from = opts.from ?? times[idx[0]!]!
  const to = opts.to ?? times[idx.at(-1)!]!
  const span = to - from
  const pad = 1.5
  const x = (t: number) => round(span > 0 ? ((t - from) / span) * opts.width : opts.width)
  const y = (v: number) => round(pad + (1 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (opts.height - 2 * pad))

  const segments: { x: number, y: number }[][] = []
  let current: { x: number, y: number }[] = []
  for (const i of idx) {
    const v = values[i]
    if (v === null || v === undefined || !Number.isFinite(v)) {
      if (current.length)
        segments.push(current)
      current = []
      continue
    }
    current.push({ x: x(times[i]!), y: y(v) })
  }
  if (current.length)
    segments.push(current)

  const line = segments.map(seg => seg.map((p, j) => `${j ? 'L' : 'M'}${p.x},${p.y}`).join('')).join('')
  const base = opts.height
  const area = segments
    .filter(seg => seg.length > 1)
    .map(seg => `M${seg[0]!.x},${base}${seg.map(p => `L${p.x},${p.y}`).join('')}L${seg.at(-1)!.x},${base}Z`)
    .join('')
  const lastSeg = segments.at(-1)!
  return { line, area, last: lastSeg.at(-1) ?? null, points: present.length }
}
