import { describe, expect, it } from 'vitest'
import { sweepChartData, sweepSpec, trialColor } from '../../src/charts/sweep'
import { followTrialBody, validateSweepView } from '../../src/protocol'
import { bandCount, bestRule, greedyText, rateText, statusTone, trialLabel } from '../../src/sweep'
import { sweepTrial, sweepView } from './sweepFixtures'

function json(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value))
}

describe('GET /api/sweep, checked like a socket message', () => {
  it('accepts the server\'s answer as it is', () => {
    const view = sweepView()
    const parsed = validateSweepView(json(view))
    expect(parsed).toEqual({ ok: true, value: view })
  })

  it('accepts a greedy evaluation and reads it as an evaluation point', () => {
    const greedy = { checkpoint: 'ckpt_a.pt', env_step: 3000, episode: 30, worlds: 4, step_cap: 100, mean_survival: 61.5, min_survival: 40, max_survival: 90, share_at_cap: 0.25, causes: { energy: 3, step_cap: 1 }, wall_time: 1 }
    const view = sweepView({ trials: [sweepTrial(0, { greedy, followed: true }), sweepTrial(1)], follow: { mode: 'picked', run: 'run0aa', best: 'run0aa', basis: 'greedy', margin: 0.1 } })
    const parsed = validateSweepView(json(view))
    expect(parsed.ok && parsed.value.trials[0]?.greedy).toEqual(greedy)
  })

  it('says which field is wrong', () => {
    const bad = json(sweepView()) as { trials: { curve: { survival: number[] } }[], band: { low: unknown[] }, follow: { run: string } }
    bad.trials[0]!.curve.survival.pop()
    expect(validateSweepView(bad)).toEqual({ ok: false, error: 'GET /api/sweep: trials[0].curve: env_step, survival differ in length (3, 2)' })

    const other = json(sweepView()) as { follow: { run: string } }
    other.follow.run = 'nobody'
    expect(validateSweepView(other)).toEqual({ ok: false, error: 'GET /api/sweep: follow.run: \'nobody\' is not one of the trials' })

    const band = json(sweepView()) as { band: { low: unknown[] } }
    band.band.low[0] = 'x'
    expect(validateSweepView(band)).toEqual({ ok: false, error: 'GET /api/sweep: band.low[0]: expected finite number or null, got string' })
    expect(validateSweepView([])).toEqual({ ok: false, error: 'GET /api/sweep: the answer is not a JSON object' })
  })

  it('the follow body is exactly the run asked for', () => {
    expect(followTrialBody('best')).toEqual({ run: 'best' })
    expect(followTrialBody('run0aa')).toEqual({ run: 'run0aa' })
  })
})

describe('the sweep chart', () => {
  it('puts every trial and the band on one sorted x, null where a column has no value', () => {
    const view = sweepView({
      trials: [
        sweepTrial(0, { curve: { env_step: [1000, 3000], survival: [10, 30] } }),
        sweepTrial(1, { curve: { env_step: [2000, 3000], survival: [22, 33] }, followed: true, best: true }),
      ],
      band: { level: 0.95, env_step: [1500, 3000], n: [1, 2], mean: [15, 31.5], low: [null, 20], high: [null, 43] },
    })
    expect(sweepChartData(view)).toEqual([
      [1000, 1500, 2000, 3000],
      [10, null, null, 30], // #0
      [null, null, 22, 33], // #1
      [null, null, null, 20], // band low
      [null, null, null, 43], // band high
      [null, 15, null, 31.5], // mean
    ])
  })

  it('fills the band between its high and low columns and draws the followed trial boldest', () => {
    const view = sweepView()
    const spec = sweepSpec(view)
    expect(spec.bands).toEqual([{ series: [4, 3], fill: expect.any(String) }])
    const labels = spec.series.map(s => s.label)
    expect(labels).toEqual(['env steps', '#0 seed 0', '#1 seed 1 (live view)', '95% CI low', '95% CI high', 'mean of the trials'])
    expect(spec.series[2]?.width).toBeGreaterThan(spec.series[1]?.width ?? Infinity)
    expect(spec.series[1]?.stroke).toBe(trialColor(0))
  })
})

describe('the trials in words', () => {
  it('names a trial by index and seed, and its setting when the sweep varies one', () => {
    expect(trialLabel(sweepTrial(2))).toBe('#2 · seed 2')
    expect(trialLabel(sweepTrial(3, { setting: 'lr=1e-4' }))).toBe('#3 · seed 3 · lr=1e-4')
  })

  it('gives each status its tone', () => {
    expect(['running', 'paused', 'stopping', 'completed', 'failed', 'lost', 'starting', 'stopped'].map(statusTone))
      .toEqual(['ok', 'warn', 'warn', 'accent', 'low', 'low', 'plain', 'plain'])
  })

  it('writes missing figures as a dash, never as zero', () => {
    expect(rateText(sweepTrial(0, { steps_per_second: null }))).toBe('–')
    expect(greedyText(sweepTrial(0))).toBe('–')
    const greedy = { checkpoint: 'c.pt', env_step: 120_000, episode: 1, worlds: 4, step_cap: 100, mean_survival: 87.456, min_survival: 1, max_survival: 100, share_at_cap: 0.5, causes: {}, wall_time: 1 }
    expect(greedyText(sweepTrial(0, { greedy }))).toBe('87.5 at 120k')
  })

  it('says how the best is chosen with the server\'s basis and margin', () => {
    expect(bestRule(sweepView())).toContain('the highest recent training survival')
    expect(bestRule(sweepView())).toContain('10% better')
    const greedy = sweepView({ follow: { mode: 'best', run: 'run1aa', best: 'run1aa', basis: 'greedy', margin: 0.25 } })
    expect(bestRule(greedy)).toContain('the highest latest greedy evaluation')
    expect(bestRule(greedy)).toContain('25% better')
    expect(bandCount(sweepView())).toBe('1 of 2 trials')
  })
})
