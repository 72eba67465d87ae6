import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick } from 'vue'
import TrainingCharts from '../../src/components/TrainingCharts.vue'
import { REDRAW_INTERVAL_MS, useTrainingCharts } from '../../src/composables/useTrainingCharts'
import { useRunStore } from '../../src/stores/run'
import { evaluationPoint, hello, metricPoint, metricPoints, metricsHistory, world } from './fixtures'

beforeEach(() => {
  vi.useFakeTimers()
  setActivePinia(createPinia())
})

afterEach(() => {
  vi.useRealTimers()
})

/** Past the redraw interval and the animation frame it waits for. */
function settle(): void {
  vi.advanceTimersByTime(REDRAW_INTERVAL_MS + 50)
}

describe('useTrainingCharts', () => {
  it('redraws at most about once a second however fast points arrive', () => {
    const run = useRunStore()
    const scope = effectScope()
    const charts = scope.run(() => useTrainingCharts())!
    settle()
    const first = charts.redraws.value
    run.apply(hello())
    run.apply(metricsHistory())
    for (let i = 0; i < 30; i++) {
      run.apply({ type: 'metrics', points: [metricPoint({ env_step: 100_000 + i * 10, wall_time: 2e9 + i })] })
      vi.advanceTimersByTime(30)
    }
    settle()
    expect(charts.redraws.value - first).toBeLessThanOrEqual(2)
    expect(charts.data.value?.episodeReturn[0].at(-1)).toBe(100_290)
    expect(charts.data.value?.hasEvaluations).toBe(true)
    scope.stop()
  })

  it('one zoom for every chart; reset shows everything again; new data keeps the zoom', () => {
    const run = useRunStore()
    const scope = effectScope()
    const charts = scope.run(() => useTrainingCharts())!
    run.apply(hello())
    run.apply(metricsHistory({ points: metricPoints(10) }))
    settle()
    expect(charts.xRange.value).toEqual([1000, 25_000])
    charts.setZoom(2000, 5000)
    expect(charts.zoomed.value).toBe(true)
    run.apply({ type: 'metrics', points: [metricPoint({ env_step: 90_000, wall_time: 2e9 })] })
    settle()
    expect(charts.xRange.value).toEqual([2000, 5000])
    charts.resetZoom()
    expect(charts.xRange.value).toEqual([1000, 90_000])
    scope.stop()
  })

  it('draws a separate evaluation cap only when it differs from the training cap', () => {
    const run = useRunStore()
    const scope = effectScope()
    const charts = scope.run(() => useTrainingCharts())!
    run.apply(hello({ step_cap: 500, world: world({ evaluation: { worlds: 8, step_cap: 500 } }) }))
    expect(charts.caps.value).toEqual({ training: 500, evaluation: null })
    run.apply(hello({ step_cap: 500, world: world({ evaluation: { worlds: 8, step_cap: 5000 } }) }))
    expect(charts.caps.value).toEqual({ training: 500, evaluation: 5000 })
    scope.stop()
  })
})

describe('TrainingCharts', () => {
  it('says what it is waiting for instead of drawing blank axes', async () => {
    const w = mount(TrainingCharts)
    settle()
    await nextTick()
    const empties = w.findAll('[data-testid="chart-empty"]').map(e => e.text())
    expect(empties).toContain('waiting for the first training report')
    expect(w.get('[data-testid="chart-outcome"]').text()).toContain('no evaluation yet')
    expect(w.find('[data-testid="chart-curriculum"]').exists()).toBe(false)
    w.unmount()
  })

  it('labels greedy evaluation and ε-greedy training apart, and shows the curriculum only when there is one', async () => {
    const run = useRunStore()
    run.apply(hello({ world: world({ evaluation: { worlds: 12, step_cap: 500 } }) }))
    run.apply(metricsHistory({ evaluations: [evaluationPoint()] }))
    const w = mount(TrainingCharts)
    settle()
    await nextTick()
    expect(w.get('[data-testid="chart-survival"]').find('[data-testid="chart-empty"]').exists()).toBe(false)
    expect(w.get('[data-testid="chart-outcome"]').find('[data-testid="chart-empty"]').exists()).toBe(false)
    expect(w.get('[data-testid="chart-survival"]').text()).toContain('same 12 fixed worlds')
    expect(w.find('[data-testid="chart-curriculum"]').exists()).toBe(false)

    run.apply({ type: 'metrics', points: [metricPoint({ env_step: 80_000, wall_time: 2e9, curriculum_stage: 1 })] })
    settle()
    await nextTick()
    expect(w.find('[data-testid="chart-curriculum"]').exists()).toBe(true)
    w.unmount()
  })
})
