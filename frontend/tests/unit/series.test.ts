import { describe, expect, it } from 'vitest'
import {
  appendPoints,
  columnData,
  emptySeries,
  fullRange,
  hasCurriculum,
  lossData,
  outcomeData,
  seriesFromHistory,
  sortedEvaluations,
  survivalData,
  thin,
  withEvaluation,
} from '../../src/charts/series'
import { evaluationPoint, metricPoint, metricPoints } from './fixtures'

function isSorted(xs: number[]): boolean {
  return xs.every((x, i) => i === 0 || x >= (xs[i - 1] ?? -Infinity))
}

describe('training series', () => {
  it('a history replaces everything and comes out sorted by env step', () => {
    const shuffled = [metricPoint({ env_step: 3000, wall_time: 3 }), metricPoint({ env_step: 1000, wall_time: 1 }), metricPoint({ env_step: 2000, wall_time: 2 })]
    const s = seriesFromHistory(shuffled)
    expect(s.env_step).toEqual([1000, 2000, 3000])
    expect(s.wall_time).toEqual([1, 2, 3])
    // Every column keeps the same length.
    for (const col of Object.values(s))
      expect(col).toHaveLength(3)
  })

  it('live points append in order; points the history already holds are skipped', () => {
    const s = seriesFromHistory(metricPoints(3)) // 1000, 2000, 3000
    const added = appendPoints(s, [
      metricPoint({ env_step: 3000, wall_time: 1_700_000_002 }), // the history's last point again
      metricPoint({ env_step: 2500, wall_time: 1_700_000_010 }), // older step: overlap
      metricPoint({ env_step: 4000, wall_time: 1_700_000_011, training_survival: 321 }),
      metricPoint({ env_step: 4000, wall_time: 1_700_000_012, training_survival: null }), // paused: same step, later time
    ])
    expect(added).toBe(2)
    expect(s.env_step).toEqual([1000, 2000, 3000, 4000, 4000])
    expect(s.training_survival.slice(-2)).toEqual([321, null])
  })

  it('thinning past the limit keeps the data sorted and the newest half exact', () => {
    const s = seriesFromHistory(metricPoints(1000, 0, 10), 20_000)
    const newest = s.env_step.slice(500)
    thin(s, 800)
    expect(s.env_step.length).toBe(750)
    expect(isSorted(s.env_step)).toBe(true)
    expect(s.env_step.slice(-500)).toEqual(newest)
    expect(s.episode).toHaveLength(750)
    // A long session: repeated appends stay bounded and sorted.
    for (let i = 0; i < 50; i++)
      appendPoints(s, metricPoints(40, 100_000 + i * 400, 10).map(p => ({ ...p, wall_time: 2e9 + i * 40 + p.episode })), 1000)
    expect(s.env_step.length).toBeLessThanOrEqual(1000)
    expect(isSorted(s.env_step)).toBe(true)
  })

  it('curriculum is present only when some point carries a stage', () => {
    expect(hasCurriculum(seriesFromHistory(metricPoints(5)))).toBe(false)
    expect(hasCurriculum(seriesFromHistory([...metricPoints(3), metricPoint({ env_step: 9000, curriculum_stage: 1 })]))).toBe(true)
    expect(hasCurriculum(emptySeries())).toBe(false)
  })

  it('evaluations are kept in env-step order; a re-evaluated checkpoint replaces its entry', () => {
    let list = sortedEvaluations([evaluationPoint({ checkpoint: 'c.pt', env_step: 300 }), evaluationPoint({ checkpoint: 'a.pt', env_step: 100 })])
    expect(list.map(e => e.checkpoint)).toEqual(['a.pt', 'c.pt'])
    list = withEvaluation(list, evaluationPoint({ checkpoint: 'b.pt', env_step: 200 }))
    list = withEvaluation(list, evaluationPoint({ checkpoint: 'd.pt', env_step: 400 }))
    expect(list.map(e => e.checkpoint)).toEqual(['a.pt', 'b.pt', 'c.pt', 'd.pt'])
    list = withEvaluation(list, evaluationPoint({ checkpoint: 'b.pt', env_step: 200, mean_survival: 499 }))
    expect(list).toHaveLength(4)
    expect(list[1]?.mean_survival).toBe(499)
  })
})

describe('uPlot data', () => {
  it('survival merges training points and evaluations on one sorted x, null where a series has no value', () => {
    const s = seriesFromHistory([metricPoint({ env_step: 100, training_survival: 50 }), metricPoint({ env_step: 300, wall_time: 2, training_survival: 70 })])
    const evals = [evaluationPoint({ env_step: 200, mean_survival: 180, min_survival: 120, max_survival: 260 }), evaluationPoint({ checkpoint: 'b', env_step: 300, mean_survival: 200 })]
    const [xs, training, mean, min, max, cap, ...rest] = survivalData(s, evals, 500, null)
    expect(xs).toEqual([100, 200, 300])
    expect(training).toEqual([50, null, 70])
    expect(mean).toEqual([null, 180, 200])
    expect(min).toEqual([null, 120, 150])
    expect(max).toEqual([null, 260, 500])
    expect(cap).toEqual([500, 500, 500])
    expect(rest).toEqual([])
    // A separate evaluation cap only when asked for.
    expect(survivalData(s, evals, 500, 5000)).toHaveLength(7)
  })

  it('survival with 20,000 points per series is built quickly and stays sorted', () => {
    const s = seriesFromHistory(metricPoints(20_000, 0, 50))
    const evals = Array.from({ length: 200 }, (_, i) => evaluationPoint({ checkpoint: `c${i}`, env_step: i * 5000 + 25 }))
    const t0 = performance.now()
    const [xs, training, mean] = survivalData(s, evals, 500, null)
    expect(performance.now() - t0).toBeLessThan(200)
    expect(xs).toHaveLength(20_200)
    expect(isSorted(xs)).toBe(true)
    expect(training?.filter(v => v !== null)).toHaveLength(20_000)
    expect(mean?.filter(v => v !== null)).toHaveLength(200)
  })

  it('outcomes stack energy over health over the step cap, in percent of the worlds', () => {
    const [xs, energyTop, healthTop, cap, share] = outcomeData([
      evaluationPoint({ env_step: 10, worlds: 16, causes: { energy: 8, health: 4, step_cap: 4 }, share_at_cap: 0.25 }),
      evaluationPoint({ env_step: 20, worlds: 10, causes: { step_cap: 10 }, share_at_cap: 1 }),
    ])
    expect(xs).toEqual([10, 20])
    expect(energyTop).toEqual([100, 100])
    expect(healthTop).toEqual([50, 100])
    expect(cap).toEqual([25, 100])
    expect(share).toEqual([25, 100])
  })

  it('loss drops values a log axis cannot show; columns copy, not alias', () => {
    const s = seriesFromHistory([metricPoint({ env_step: 1, td_loss: 0 }), metricPoint({ env_step: 2, td_loss: 0.5 }), metricPoint({ env_step: 3, td_loss: null })])
    expect(lossData(s)[1]).toEqual([null, 0.5, null])
    const data = columnData(s, 'epsilon', 'learning_rate')
    expect(data).toHaveLength(3)
    data[0].push(99)
    expect(s.env_step).toHaveLength(3)
  })

  it('the full range spans training and evaluations, with room for a single point', () => {
    expect(fullRange(emptySeries(), [])).toBeNull()
    expect(fullRange(seriesFromHistory(metricPoints(3)), [evaluationPoint({ env_step: 50_000 })])).toEqual([1000, 50_000])
    expect(fullRange(emptySeries(), [evaluationPoint({ env_step: 500 })])).toEqual([499, 501])
  })
})
