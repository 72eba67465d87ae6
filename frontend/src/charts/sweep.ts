/**
 * The sweep's chart: every trial's learning curve (training survival against env steps), and
 * the mean across trials with its 95% band, all on one sorted x as uPlot wants it. Pure
 * functions of the server's `GET /api/sweep` answer; no DOM.
 */

import type uPlot from 'uplot'
import type { SweepView } from '../protocol'
import type { ChartSpec } from './options'
import type { Aligned } from './series'
import { formatCompact } from '../format'

/** One colour per trial, by its index: the table's swatches and the chart's lines agree. */
export const TRIAL_COLORS = ['#a78bfa', '#f472b6', '#fbbf24', '#38bdf8', '#34d399', '#fb923c', '#e879f9', '#a3e635'] as const
export const MEAN_COLOR = '#e6e9f2'
const BAND_FILL = 'rgba(230, 233, 242, 0.13)'
const BAND_EDGE = 'rgba(230, 233, 242, 0.35)'

export function trialColor(index: number): string {
  return TRIAL_COLORS[index % TRIAL_COLORS.length]!
}

/**
 * Columns: x (every env step any trial or the band has), one column per trial in the order
 * of `view.trials`, then the band's low, high and the mean. Each column is null where it has
 * no value of its own (the lines join across: spanGaps).
 */
export function sweepChartData(view: SweepView): Aligned {
  const steps = new Set<number>(view.band.env_step)
  for (const trial of view.trials) {
    for (const step of trial.curve.env_step)
      steps.add(step)
  }
  const xs = [...steps].sort((a, b) => a - b)
  const row = new Map(xs.map((x, i) => [x, i]))
  const column = (stepsOf: number[], values: (number | null)[]) => {
    const out: (number | null)[] = Array.from({ length: xs.length }, () => null)
    stepsOf.forEach((step, i) => {
      out[row.get(step)!] = values[i] ?? null
    })
    return out
  }
  const band = view.band
  return [
    xs,
    ...view.trials.map(t => column(t.curve.env_step, t.curve.survival)),
    column(band.env_step, band.low),
    column(band.env_step, band.high),
    column(band.env_step, band.mean),
  ]
}

function num(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits)
}

export function sweepSpec(view: SweepView): ChartSpec {
  const trials = view.trials
  const first = trials.length + 1 // the band's first column
  // How many trials each band point averages, for the mean's legend value.
  const nAt = new Map(view.band.env_step.map((step, i) => [step, view.band.n[i] ?? 0]))
  const percent = Math.round(view.band.level * 100)
  const axis = { stroke: '#8b93a7', grid: { stroke: 'rgba(139, 147, 167, 0.13)', width: 1 }, ticks: { stroke: 'rgba(139, 147, 167, 0.25)', width: 1, size: 4 }, font: '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' }
  const series: uPlot.Series[] = [
    { label: 'env steps', value: (_u, v) => (v === null ? '–' : formatCompact(v)) },
    ...trials.map(t => ({
      label: `#${t.index} seed ${t.seed}${t.followed ? ' (live view)' : ''}`,
      stroke: trialColor(t.index),
      width: t.followed ? 1.6 : 1,
      alpha: t.followed ? 0.95 : 0.6,
      spanGaps: true,
      points: { show: false },
      value: (_u: uPlot, v: number | null) => num(v),
    })),
    { label: `${percent}% CI low`, stroke: BAND_EDGE, width: 1, spanGaps: true, points: { show: false }, value: (_u, v) => num(v) },
    { label: `${percent}% CI high`, stroke: BAND_EDGE, width: 1, spanGaps: true, points: { show: false }, value: (_u, v) => num(v) },
    {
      label: 'mean of the trials',
      stroke: MEAN_COLOR,
      width: 2.5,
      spanGaps: true,
      points: { show: false },
      value: (u, v, _si, idx) => {
        if (v === null || idx === null || idx === undefined)
          return '–'
        const n = nAt.get(u.data[0][idx] as number)
        return n === undefined ? num(v) : `${num(v)} (n=${n})`
      },
    },
  ]
  return {
    series,
    bands: [{ series: [first + 1, first], fill: BAND_FILL }],
    scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(10, max) * 1.05] } },
    axes: [
      { ...axis, label: 'env steps', labelSize: 16, labelGap: 0, size: 24, values: (_u, splits) => splits.map(v => (v === null ? '' : formatCompact(v))) },
      { ...axis, size: 44, gap: 4, label: 'training survival (steps)', labelSize: 14, labelGap: 2, values: (_u, splits) => splits.map(v => (v === null ? '' : formatCompact(v))) },
    ],
  }
}
