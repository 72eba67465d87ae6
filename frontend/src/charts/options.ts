/**
 * uPlot options for the training charts, in the page's dark theme. Each builder returns
 * everything but the size, cursor and hooks, which `ChartPanel` adds (sync, zoom, resize).
 * The words in legends are chosen so that greedy evaluation and epsilon-greedy training can
 * never be mistaken for each other.
 */

import type uPlot from 'uplot'
import uPlotLib from 'uplot'
import { formatCompact } from '../format'

export type ChartSpec = Omit<uPlot.Options, 'width' | 'height'>

export const COLORS = {
  evaluation: '#5eead4',
  evaluationBand: 'rgba(94, 234, 212, 0.13)',
  evaluationEdge: 'rgba(94, 234, 212, 0.35)',
  training: '#a78bfa',
  cap: 'rgba(230, 233, 242, 0.5)',
  evaluationCap: 'rgba(94, 234, 212, 0.55)',
  energy: '#eab308',
  health: '#ef4444',
  stepCap: '#22c55e',
  share: '#e6e9f2',
  return: '#a78bfa',
  loss: '#f472b6',
  epsilon: '#fbbf24',
  learningRate: '#38bdf8',
  speed: '#93c5fd',
  curriculum: '#34d399',
} as const

const AXIS_STROKE = '#8b93a7'
const GRID = { stroke: 'rgba(139, 147, 167, 0.13)', width: 1 }
const TICKS = { stroke: 'rgba(139, 147, 167, 0.25)', width: 1, size: 4 }
const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'
const LABEL_FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'

function num(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits)
}

/** Tick labels: 1.2M, 450k, 12. */
function compactTicks(_u: uPlot, splits: number[]): string[] {
  return splits.map(v => (v === null ? '' : formatCompact(v)))
}

function xAxis(): uPlot.Axis {
  return {
    stroke: AXIS_STROKE,
    grid: GRID,
    ticks: TICKS,
    font: FONT,
    labelFont: LABEL_FONT,
    label: 'env steps',
    labelSize: 16,
    labelGap: 0,
    size: 24,
    values: compactTicks,
  }
}

function yAxis(over: Partial<uPlot.Axis> = {}): uPlot.Axis {
  return { stroke: AXIS_STROKE, grid: GRID, ticks: TICKS, font: FONT, size: 52, gap: 4, values: compactTicks, ...over }
}

function xSeries(): uPlot.Series {
  return { label: 'env steps', value: (_u, v) => (v === null ? '–' : formatCompact(v)) }
}

function line(label: string, stroke: string, over: Partial<uPlot.Series> = {}): uPlot.Series {
  return { label, stroke, width: 1.5, spanGaps: true, points: { show: false }, ...over }
}

/** Scales shared by every chart: x in env steps, set from outside (zoom is shared). */
function xScale(): uPlot.Scale {
  return { time: false }
}

export interface SurvivalLabels {
  evaluationWorlds: number | null
  trainingCap: number | null
  /** Shown as its own line only when it differs from the training cap. */
  evaluationCap: number | null
}

export function survivalSpec(l: SurvivalLabels): ChartSpec {
  const worlds = l.evaluationWorlds === null ? '' : `${l.evaluationWorlds} worlds, `
  const series: uPlot.Series[] = [
    xSeries(),
    line('training episodes (ε-greedy)', COLORS.training, { width: 1.25, value: (_u, v) => num(v) }),
    line(`greedy evaluation (${worlds}fixed seeds)`, COLORS.evaluation, {
      width: 2.5,
      points: { show: true, size: 7, fill: COLORS.evaluation, stroke: COLORS.evaluation },
      value: (_u, v) => num(v, 1),
    }),
    line('evaluation min', COLORS.evaluationEdge, { width: 1, value: (_u, v) => num(v) }),
    line('evaluation max', COLORS.evaluationEdge, { width: 1, value: (_u, v) => num(v) }),
    line(`step cap${l.trainingCap === null ? '' : ` (${formatCompact(l.trainingCap)})`}`, COLORS.cap, { width: 1, dash: [6, 5], value: (_u, v) => num(v) }),
  ]
  if (l.evaluationCap !== null)
    series.push(line(`evaluation step cap (${formatCompact(l.evaluationCap)})`, COLORS.evaluationCap, { width: 1, dash: [6, 5], value: (_u, v) => num(v) }))
  return {
    series,
    bands: [{ series: [4, 3], fill: COLORS.evaluationBand }],
    scales: { x: xScale(), y: { range: (_u, _min, max) => [0, Math.max(10, max) * 1.05] } },
    axes: [xAxis(), yAxis({ label: 'steps survived', labelFont: LABEL_FONT, labelSize: 14, labelGap: 2, size: 44 })],
  }
}

/** Percent of one cause at a row of the stacked outcome data (columns 1..3 are stacked tops). */
function stackedShare(u: uPlot, seriesIdx: number, idx: number | null): string {
  if (idx === null || idx === undefined)
    return '–'
  const col = (i: number) => (u.data[i]?.[idx] ?? 0) as number
  const below = seriesIdx < 3 ? col(seriesIdx + 1) : 0
  return `${(col(seriesIdx) - below).toFixed(0)}%`
}

export function outcomeSpec(worlds: number | null): ChartSpec {
  const bars = uPlotLib.paths.bars?.({ size: [0.7, 26, 3], align: 0 })
  const bar = (label: string, color: string): uPlot.Series => ({
    label,
    stroke: color,
    fill: color,
    width: 0,
    paths: bars,
    points: { show: false },
    value: (u, _v, si, idx) => stackedShare(u, si, idx),
  })
  return {
    series: [
      xSeries(),
      bar('ended by energy', COLORS.energy),
      bar('ended by health', COLORS.health),
      bar('reached the step cap', COLORS.stepCap),
      line(`share at the step cap${worlds === null ? '' : ` (of ${worlds} worlds)`}`, COLORS.share, {
        width: 1.5,
        points: { show: true, size: 6, fill: COLORS.share, stroke: COLORS.share },
        value: (_u, v) => (v === null ? '–' : `${v.toFixed(0)}%`),
      }),
    ],
    scales: { x: xScale(), y: { range: [0, 100] } },
    axes: [xAxis(), yAxis({ values: (_u, splits) => splits.map(v => `${v}%`), label: '% of worlds', labelFont: LABEL_FONT, labelSize: 14, labelGap: 2, size: 44 })],
  }
}

export function returnSpec(): ChartSpec {
  return {
    series: [xSeries(), line('training episodes (ε-greedy), mean return', COLORS.return, { value: (_u, v) => num(v, 1) })],
    scales: { x: xScale() },
    axes: [xAxis(), yAxis()],
  }
}

export function lossSpec(): ChartSpec {
  return {
    series: [xSeries(), line('TD loss (mean per report)', COLORS.loss, { width: 1.25, value: (_u, v) => (v === null ? '–' : v.toPrecision(3)) })],
    scales: { x: xScale(), y: { distr: 3, log: 10 } },
    axes: [xAxis(), yAxis({ values: (_u, splits) => splits.map(v => (v === null ? '' : v.toExponential(0))) })],
  }
}

export function explorationSpec(): ChartSpec {
  return {
    series: [
      xSeries(),
      line('ε (exploration rate, left axis)', COLORS.epsilon, { scale: 'eps', value: (_u, v) => num(v, 3) }),
      line('learning rate (right axis)', COLORS.learningRate, { scale: 'lr', value: (_u, v) => (v === null ? '–' : v.toExponential(2)) }),
    ],
    scales: { x: xScale(), eps: { range: [0, 1] }, lr: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
    axes: [
      xAxis(),
      yAxis({ scale: 'eps', values: (_u, splits) => splits.map(v => v.toFixed(1)), stroke: COLORS.epsilon, size: 36 }),
      yAxis({ scale: 'lr', side: 1, grid: { show: false }, values: (_u, splits) => splits.map(v => (v === 0 ? '0' : v.toExponential(0))), stroke: COLORS.learningRate, size: 44 }),
    ],
  }
}

export function speedSpec(): ChartSpec {
  return {
    series: [xSeries(), line('env steps per second (training)', COLORS.speed, { value: (_u, v) => (v === null ? '–' : formatCompact(v)) })],
    scales: { x: xScale(), y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
    axes: [xAxis(), yAxis()],
  }
}

export function curriculumSpec(): ChartSpec {
  return {
    series: [xSeries(), line('curriculum stage', COLORS.curriculum, {
      width: 2,
      spanGaps: false,
      paths: uPlotLib.paths.stepped?.({ align: 1 }),
      value: (_u, v) => num(v),
    })],
    scales: { x: xScale(), y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max) + 0.5] } },
    axes: [xAxis(), yAxis({ values: (_u, splits) => splits.map(v => (Number.isInteger(v) ? String(v) : '')), size: 36 })],
  }
}
