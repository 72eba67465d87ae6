/**
 * Training history as columns, and the uPlot data built from it. Pure functions, no DOM:
 * the store keeps a `TrainingSeries` and an evaluation list; charts ask for `AlignedData`.
 *
 * Invariants: `env_step` is non-decreasing (uPlot needs a sorted x), every column has the
 * same length, missing values are null (uPlot draws a gap or, with spanGaps, joins across).
 */

import type { EvaluationPoint, MetricPoint } from '../protocol'

/** Most points kept per series; older ones are thinned past this (the newest stay dense).
 * Charts draw at most a few points per pixel of it (decimate), so this bounds memory only. */
export const MAX_POINTS = 50_000

export interface TrainingSeries {
  env_step: number[]
  episode: number[]
  wall_time: number[]
  training_survival: (number | null)[]
  episode_return: (number | null)[]
  td_loss: (number | null)[]
  epsilon: number[]
  learning_rate: number[]
  steps_per_second: number[]
  curriculum_stage: (number | null)[]
}

type Column = keyof TrainingSeries
const COLUMNS: readonly Column[] = [
  'env_step',
  'episode',
  'wall_time',
  'training_survival',
  'episode_return',
  'td_loss',
  'epsilon',
  'learning_rate',
  'steps_per_second',
  'curriculum_stage',
]

export function emptySeries(): TrainingSeries {
  return {
    env_step: [],
    episode: [],
    wall_time: [],
    training_survival: [],
    episode_return: [],
    td_loss: [],
    epsilon: [],
    learning_rate: [],
    steps_per_second: [],
    curriculum_stage: [],
  }
}

function push(s: TrainingSeries, p: MetricPoint): void {
  s.env_step.push(p.env_step)
  s.episode.push(p.episode)
  s.wall_time.push(p.wall_time)
  s.training_survival.push(p.training_survival)
  s.episode_return.push(p.episode_return)
  s.td_loss.push(p.td_loss)
  s.epsilon.push(p.epsilon)
  s.learning_rate.push(p.learning_rate)
  s.steps_per_second.push(p.steps_per_second)
  s.curriculum_stage.push(p.curriculum_stage)
}

function byStepThenTime(a: MetricPoint, b: MetricPoint): number {
  return a.env_step - b.env_step || a.wall_time - b.wall_time
}

/** A fresh series from a (downsampled) history; sorted by env step whatever order it came in. */
export function seriesFromHistory(points: readonly MetricPoint[], maxPoints = MAX_POINTS): TrainingSeries {
  const s = emptySeries()
  const sorted = [...points].sort(byStepThenTime)
  for (const p of sorted)
    push(s, p)
  thin(s, maxPoints)
  return s
}

/**
 * Append live points in place. A point at or before the last one (same env step and no later
 * wall time, or an earlier env step) is one the history already holds, and is skipped.
 * Returns how many points were added.
 */
export function appendPoints(s: TrainingSeries, points: readonly MetricPoint[], maxPoints = MAX_POINTS): number {
  let added = 0
  for (const p of [...points].sort(byStepThenTime)) {
    const n = s.env_step.length
    const lastStep = s.env_step[n - 1]
    const lastTime = s.wall_time[n - 1]
    if (lastStep !== undefined && lastTime !== undefined
      && (p.env_step < lastStep || (p.env_step === lastStep && p.wall_time <= lastTime)))
      continue
    push(s, p)
    added++
  }
  if (added)
    thin(s, maxPoints)
  return added
}

/** Past `maxPoints`, keep every other point of the older half: old history coarsens, recent stays exact. */
export function thin(s: TrainingSeries, maxPoints = MAX_POINTS): void {
  const n = s.env_step.length
  if (n <= maxPoints)
    return
  const half = Math.floor(n / 2)
  const keep: number[] = []
  for (let i = 0; i < n; i++) {
    if (i >= half || i % 2 === 0)
      keep.push(i)
  }
  const columns = s as unknown as Record<Column, (number | null)[]>
  for (const c of COLUMNS) {
    const col = columns[c]
    columns[c] = keep.map(i => col[i] ?? null)
  }
}

/** Insert one evaluation in env-step order; a checkpoint evaluated again replaces its entry. */
export function withEvaluation(list: readonly EvaluationPoint[], e: EvaluationPoint): EvaluationPoint[] {
  const out = list.filter(x => x.checkpoint !== e.checkpoint)
  let i = out.length
  while (i > 0 && (out[i - 1]?.env_step ?? 0) > e.env_step)
    i--
  out.splice(i, 0, e)
  return out
}

export function sortedEvaluations(list: readonly EvaluationPoint[]): EvaluationPoint[] {
  return list.reduce<EvaluationPoint[]>((acc, e) => withEvaluation(acc, e), [])
}

export function hasCurriculum(s: TrainingSeries): boolean {
  return s.curriculum_stage.some(v => v !== null)
}

/** The env-step span covered by training points and evaluations, or null when there is none. */
export function fullRange(s: TrainingSeries, evaluations: readonly EvaluationPoint[]): [number, number] | null {
  const xs = [s.env_step[0], s.env_step.at(-1), evaluations[0]?.env_step, evaluations.at(-1)?.env_step]
    .filter((v): v is number => v !== undefined)
  if (!xs.length)
    return null
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  // uPlot needs a span; a single point gets a little room on either side.
  return lo === hi ? [Math.max(0, lo - 1), hi + 1] : [lo, hi]
}

// ------------------------------------------------------------------ uPlot data

/** uPlot's AlignedData, kept structural so this module needs no uPlot import. */
export type Aligned = [number[], ...(number | null)[][]]

/** x (env steps) and one training column. */
export function columnData(s: TrainingSeries, ...columns: Column[]): Aligned {
  return [s.env_step.slice(), ...columns.map(c => (s[c] as (number | null)[]).slice())]
}

/** TD loss for a log axis: non-positive values (which a log scale cannot show) become gaps. */
export function lossData(s: TrainingSeries): Aligned {
  return [s.env_step.slice(), s.td_loss.map(v => (v !== null && v > 0 ? v : null))]
}

/**
 * Survival: training points and evaluations merged on one sorted x (env steps); each series is
 * null where it has no value there. Columns: x, training survival, evaluation mean, min, max,
 * the training step cap (a constant line), and the evaluation step cap only when it is given
 * (pass null when it equals the training cap: one line says it).
 */
export function survivalData(
  s: TrainingSeries,
  evaluations: readonly EvaluationPoint[],
  trainingCap: number | null,
  evaluationCap: number | null,
): Aligned {
  const xs: number[] = []
  const training: (number | null)[] = []
  const mean: (number | null)[] = []
  const min: (number | null)[] = []
  const max: (number | null)[] = []
  let i = 0
  let j = 0
  const n = s.env_step.length
  while (i < n || j < evaluations.length) {
    const tx = i < n ? s.env_step[i]! : Infinity
    const e = evaluations[j]
    const ex = e ? e.env_step : Infinity
    if (tx < ex) {
      xs.push(tx)
      training.push(s.training_survival[i] ?? null)
      mean.push(null)
      min.push(null)
      max.push(null)
      i++
    }
    else if (e) {
      xs.push(ex)
      mean.push(e.mean_survival)
      min.push(e.min_survival)
      max.push(e.max_survival)
      // A training point at the very same step shares the row.
      if (tx === ex) {
        training.push(s.training_survival[i] ?? null)
        i++
      }
      else {
        training.push(null)
      }
      j++
    }
  }
  const cap = (v: number | null) => xs.map(() => v)
  const data: Aligned = [xs, training, mean, min, max, cap(trainingCap)]
  if (evaluationCap !== null)
    data.push(cap(evaluationCap))
  return data
}

/**
 * Evaluation outcomes in percent of the worlds, stacked for bars drawn back to front:
 * x, top of "energy" (= all three), top of "health" (= health + step cap), "step cap",
 * and the share at the cap as its own line (equal to the step-cap bar, from the server's field).
 */
export function outcomeData(evaluations: readonly EvaluationPoint[]): Aligned {
  const xs = evaluations.map(e => e.env_step)
  const pct = (e: EvaluationPoint, k: string) => (100 * (e.causes[k] ?? 0)) / e.worlds
  const cap = evaluations.map(e => pct(e, 'step_cap'))
  const health = evaluations.map((e, i) => (cap[i] ?? 0) + pct(e, 'health'))
  const energy = evaluations.map((e, i) => (health[i] ?? 0) + pct(e, 'energy'))
  const share = evaluations.map(e => 100 * e.share_at_cap)
  return [xs, energy, health, cap, share]
}

// ------------------------------------------------------------------ drawing fewer points

/**
 * What a chart `pixels` wide can show of `data` over `range`: per pixel column the first and
 * last point and each series' lowest and highest, plus one point either side of the range so
 * lines run to the edges. Every peak and dip stays visible; a 20,000-point history draws as a
 * few thousand. Data already that small (or with no range) is returned as it is.
 */
export function decimate(data: Aligned, range: [number, number] | null, pixels: number): Aligned {
  const x = data[0]
  const n = x.length
  const buckets = Math.max(1, Math.floor(pixels))
  if (n <= 4 * buckets)
    return data
  const lo = range ? range[0] : x[0]!
  const hi = range ? range[1] : x[n - 1]!
  const span = hi - lo
  if (!(span > 0))
    return data
  const series = data.slice(1) as (number | null)[][]
  const keep = new Uint8Array(n)
  const lowest = new Int32Array(series.length).fill(-1)
  const highest = new Int32Array(series.length).fill(-1)
  let bucket = -1
  let first = -1
  let last = -1
  const close = (): void => {
    if (first < 0)
      return
    keep[first] = 1
    keep[last] = 1
    for (let k = 0; k < series.length; k++) {
      if (lowest[k]! >= 0)
        keep[lowest[k]!] = 1
      if (highest[k]! >= 0)
        keep[highest[k]!] = 1
      lowest[k] = -1
      highest[k] = -1
    }
  }
  for (let i = 0; i < n; i++) {
    const xi = x[i]!
    if (xi < lo) {
      if (i + 1 < n && x[i + 1]! >= lo)
        keep[i] = 1 // the last point before the range: the line enters from the edge
      continue
    }
    if (xi > hi) {
      keep[i] = 1 // the first point past the range
      break
    }
    const b = Math.min(buckets - 1, Math.floor(((xi - lo) / span) * buckets))
    if (b !== bucket) {
      close()
      bucket = b
      first = i
    }
    last = i
    for (let k = 0; k < series.length; k++) {
      const v = series[k]![i]
      if (v === null || v === undefined)
        continue
      const low = lowest[k]!
      const high = highest[k]!
      if (low < 0 || v < (series[k]![low] as number))
        lowest[k] = i
      if (high < 0 || v > (series[k]![high] as number))
        highest[k] = i
    }
  }
  close()
  const picked: number[] = []
  for (let i = 0; i < n; i++) {
    if (keep[i])
      picked.push(i)
  }
  return [picked.map(i => x[i]!), ...series.map(col => picked.map(i => col[i] ?? null))] as Aligned
}
