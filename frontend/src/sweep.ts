/**
 * Presentation of a sweep's trials, pure and tested: how a trial is named, the tone of its
 * status, what its figures read as. The figures themselves are the server's (`GET /api/sweep`).
 */
import type { SweepTrial, SweepView } from './protocol'
import { formatCompact, formatRate } from './format'

export type Tone = 'ok' | 'warn' | 'low' | 'accent' | 'plain'

/** A run's registry status as a pill: training now, on its way, done well, or gone wrong. */
export function statusTone(status: string): Tone {
  switch (status) {
    case 'running':
      return 'ok'
    case 'paused':
    case 'stopping':
      return 'warn'
    case 'completed':
      return 'accent'
    case 'failed':
    case 'lost':
      return 'low'
    default:
      return 'plain' // starting, stopped
  }
}

/** "#1 · seed 1", with the setting when the sweep varies more than the seed. */
export function trialLabel(trial: Pick<SweepTrial, 'index' | 'seed' | 'setting'>): string {
  const setting = trial.setting && trial.setting !== 'config' ? ` · ${trial.setting}` : ''
  return `#${trial.index} · seed ${trial.seed}${setting}`
}

export function dash(value: number | null | undefined, format: (v: number) => string): string {
  return value === null || value === undefined ? '–' : format(value)
}

export function stepsText(trial: SweepTrial): string {
  return trial.env_step > 0 ? formatCompact(trial.env_step) : '–'
}

export function rateText(trial: SweepTrial): string {
  return dash(trial.steps_per_second, formatRate)
}

export function survivalText(value: number | null): string {
  return dash(value, v => v.toFixed(1))
}

/** "87.5 at 120k": the latest greedy evaluation's mean survival and where it was taken. */
export function greedyText(trial: SweepTrial): string {
  const g = trial.greedy
  return g ? `${g.mean_survival.toFixed(1)} at ${formatCompact(g.env_step)}` : '–'
}

/** How the best is chosen, in the server's own terms (basis and margin come from it). */
export function bestRule(view: SweepView): string {
  const margin = `${Math.round(view.follow.margin * 100)}%`
  const basis = view.follow.basis === 'greedy'
    ? 'chosen by the highest latest greedy evaluation'
    : view.follow.basis === 'training'
      ? 'chosen by the highest recent training survival (no trial has a greedy evaluation yet)'
      : 'to be chosen once a trial has a figure'
  return `${basis}; it changes hands only when another trial does ${margin} better.`
}

/** Trials counted at the band's last point, e.g. "2 of 3 trials". */
export function bandCount(view: SweepView): string {
  const n = view.band.n.at(-1)
  return n === undefined ? 'no trial has reported yet' : `${n} of ${view.trials.length} trial${view.trials.length === 1 ? '' : 's'}`
}
