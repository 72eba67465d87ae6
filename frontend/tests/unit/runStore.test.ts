import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useCompareStore } from '../../src/stores/compare'
import { useFeedbackStore } from '../../src/stores/feedback'
import { useMetricsStore } from '../../src/stores/metrics'
import { DEFAULT_HISTORY_LIMIT, TRAIL_LIMIT, useRunStore } from '../../src/stores/run'
import {
  checkpoints,
  compareStarted,
  episodeEnd,
  evaluationPoint,
  hello,
  meters,
  metricPoints,
  metricsHistory,
  modelLoaded,
  playStatus,
  state,
  trainingStatus,
  world,
} from './fixtures'

describe('run store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
  })

  it('hello sets the world description, layout and speed', () => {
    const store = useRunStore()
    store.apply(hello({ steps_per_second: 7 }))
    expect(store.hello?.config_name).toBe('level_1_full_observability')
    expect(store.actions).toEqual(['UP', 'DOWN', 'LEFT', 'RIGHT', 'INTERACT', 'WAIT'])
    expect(store.meterNames).toHaveLength(8)
    expect(store.affordances.map(a => a.name)).toEqual(['Bed', 'Shower', 'Job'])
    expect(store.speed).toBe(7)
  })

  it('a hello from a different run forgets the old run; the same run keeps its history', () => {
    const store = useRunStore()
    store.apply(hello())
    store.apply(modelLoaded())
    store.apply(episodeEnd({ episode: 1 }))
    store.apply(hello())
    expect(store.history).toHaveLength(1)
    expect(store.model).not.toBeNull()
    store.apply(hello({ config_name: 'level_2_pomdp', level: 'L2' }))
    expect(store.history).toHaveLength(0)
    expect(store.model).toBeNull()
    expect(store.hello?.level).toBe('L2')
  })

  it('a hello from another trial of the sweep (same config, other run) forgets the old trial', () => {
    const store = useRunStore()
    store.apply(hello({ run_id: 'run1aa', sweep_id: 's-abcdef' }))
    store.apply(modelLoaded())
    store.apply(episodeEnd({ episode: 1 }))
    store.apply(hello({ run_id: 'run1aa', sweep_id: 's-abcdef' }))
    expect(store.history).toHaveLength(1)
    store.apply(hello({ run_id: 'run0aa', sweep_id: 's-abcdef' }))
    expect(store.history).toHaveLength(0)
    expect(store.model).toBeNull()
    expect(store.hello?.run_id).toBe('run0aa')
  })

  it('state updates position, meters, return and trail', () => {
    const store = useRunStore()
    store.apply(hello())
    store.apply({ type: 'episode_start', episode: 4, affordances: [{ name: 'Gym', x: 0, y: 0 }] })
    expect(store.affordances).toEqual([{ name: 'Gym', x: 0, y: 0 }])
    store.apply(state({ episode: 4, step: 0, x: 3, y: 4 }), 1000)
    store.apply(state({ episode: 4, step: 1, x: 4, y: 4, action: 'RIGHT', reward: 0.5, meters: meters({ energy: 0.25 }) }), 1200)
    store.apply(state({ episode: 4, step: 2, x: 4, y: 5, action: 'DOWN', reward: 0.25 }), 1400)
    expect(store.state?.x).toBe(4)
    expect(store.state?.y).toBe(5)
    expect(store.liveEpisode).toBe(4)
    expect(store.episodeReturn).toBeCloseTo(0.75)
    expect(store.returnPartial).toBe(false)
    expect(store.trail).toEqual([{ x: 3, y: 4 }, { x: 4, y: 4 }])
    expect(store.stateReceivedAt).toBe(1400)
  })

  it('a repeated state does not count its reward twice', () => {
    const store = useRunStore()
    store.apply(state({ step: 1, action: 'WAIT', reward: 1 }))
    store.apply(state({ step: 1, action: 'WAIT', reward: 1 }))
    expect(store.episodeReturn).toBe(1)
  })

  it('joining mid-episode marks the return as partial until the episode ends', () => {
    const store = useRunStore()
    store.apply(modelLoaded())
    store.apply(state({ episode: 9, step: 120, action: 'WAIT', reward: 0.4 }))
    expect(store.liveEpisode).toBe(9)
    expect(store.returnPartial).toBe(true)
    expect(store.episodeReturn).toBeCloseTo(0.4)
    store.apply(episodeEnd({ episode: 9, steps: 130, return: 88 }))
    expect(store.returnPartial).toBe(false)
    expect(store.episodeReturn).toBe(88)
  })

  it('the trail is capped', () => {
    const store = useRunStore()
    for (let step = 0; step < TRAIL_LIMIT + 5; step++)
      store.apply(state({ step, x: step % 8, y: Math.floor(step / 8), action: step ? 'RIGHT' : null }))
    expect(store.trail).toHaveLength(TRAIL_LIMIT)
  })

  it('episode_end appends a history record with the playing checkpoint', () => {
    const store = useRunStore()
    store.apply(modelLoaded({ checkpoint: 'a.pt' }))
    store.apply(episodeEnd({ episode: 1, steps: 120, cause: 'energy' }))
    store.apply(episodeEnd({ episode: 2, steps: 140, cause: 'health' }))
    store.apply(modelLoaded({ checkpoint: 'b.pt', episode: 200 }))
    store.apply(episodeEnd({ episode: 3, steps: 500, cause: 'step_cap' }))
    expect(store.history.map(r => [r.episode, r.steps, r.cause, r.checkpoint, r.newCheckpoint])).toEqual([
      [1, 120, 'energy', 'a.pt', false],
      [2, 140, 'health', 'a.pt', false],
      [3, 500, 'step_cap', 'b.pt', true],
    ])
    expect(store.lastEnd?.episode).toBe(3)
  })

  it('a re-sent episode_end replaces instead of duplicating', () => {
    const store = useRunStore()
    store.apply(episodeEnd({ episode: 5, steps: 100 }))
    store.apply(episodeEnd({ episode: 5, steps: 100 }))
    expect(store.history).toHaveLength(1)
  })

  it(`history keeps only the last ${DEFAULT_HISTORY_LIMIT} episodes before hello`, () => {
    const store = useRunStore()
    for (let episode = 1; episode <= DEFAULT_HISTORY_LIMIT + 12; episode++)
      store.apply(episodeEnd({ episode, steps: episode }))
    expect(store.history).toHaveLength(DEFAULT_HISTORY_LIMIT)
    expect(store.history[0]?.episode).toBe(13)
    expect(store.history.at(-1)?.episode).toBe(DEFAULT_HISTORY_LIMIT + 12)
  })

  it('history keeps as many episodes as hello.world.history_length says', () => {
    const store = useRunStore()
    store.apply(hello({ world: world({ history_length: 5 }) }))
    expect(store.historyLimit).toBe(5)
    for (let episode = 1; episode <= 9; episode++)
      store.apply(episodeEnd({ episode, steps: episode }))
    expect(store.history.map(r => r.episode)).toEqual([5, 6, 7, 8, 9])
  })

  it('a history message replaces the record (idempotent on reconnect) and marks checkpoint changes', () => {
    const store = useRunStore()
    store.apply(episodeEnd({ episode: 1, steps: 50 }))
    const history = {
      type: 'history' as const,
      episodes: [
        { episode: 7, steps: 120, return: 100, cause: 'energy' as const, checkpoint: 'ckpt_a.pt' },
        { episode: 8, steps: 130, return: 110, cause: 'health' as const, checkpoint: 'ckpt_a.pt' },
        { episode: 9, steps: 500, return: 480, cause: 'step_cap' as const, checkpoint: 'ckpt_b.pt' },
      ],
    }
    store.apply(history)
    store.apply(history)
    expect(store.history.map(r => r.episode)).toEqual([7, 8, 9])
    expect(store.history.map(r => r.newCheckpoint)).toEqual([false, false, true])
    expect(store.history[2]?.checkpoint).toBe('ckpt_b.pt')
  })

  it('model_loaded replaces waiting, and keeps its first-seen time when re-announced', () => {
    const store = useRunStore()
    store.apply({ type: 'waiting_for_model', message: 'no checkpoint in runs/x yet' })
    expect(store.waitingMessage).toBe('no checkpoint in runs/x yet')
    expect(store.model).toBeNull()
    store.apply(modelLoaded({ untrained: true }), 1000)
    expect(store.waitingMessage).toBeNull()
    expect(store.model?.untrained).toBe(true)
    expect(store.model?.seenAt).toBe(1000)
    store.apply(modelLoaded({ untrained: true }), 5000)
    expect(store.model?.seenAt).toBe(1000)
    store.apply(modelLoaded({ checkpoint: 'ckpt_000200.pt', episode: 200 }), 9000)
    expect(store.model?.seenAt).toBe(9000)
    expect(store.model?.checkpoint).toBe('ckpt_000200.pt')
  })

  it('training_status is kept apart from the playing model, with the lag between them', () => {
    const store = useRunStore()
    store.apply(modelLoaded({ episode: 100 }))
    store.apply(trainingStatus({ episode: 250 }), 4242)
    expect(store.training?.episode).toBe(250)
    expect(store.training?.receivedAt).toBe(4242)
    expect(store.model?.episode).toBe(100)
    expect(store.policyLagEpisodes).toBe(150)
  })

  it('measures the actual play rate from arriving states', () => {
    const store = useRunStore()
    for (let step = 0; step < 10; step++)
      store.apply(state({ step, action: step ? 'WAIT' : null }), 1000 + step * 100)
    expect(store.measuredRate).toBeCloseTo(10)
  })

  it('ingest validates: malformed frames are counted, unknown types ignored, valid ones applied', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const store = useRunStore()
    store.ingest({ type: 'state', x: 'nope' })
    store.ingest({ type: 'brand_new_thing', payload: 1 })
    store.ingest({ type: 'brand_new_thing' })
    store.ingest(JSON.parse(JSON.stringify(hello())))
    expect(store.rejected).toBe(1)
    expect(store.lastRejection).toContain('state')
    expect(store.ignoredTypes).toEqual(['brand_new_thing'])
    expect(store.hello).not.toBeNull()
    expect(store.state).toBeNull()
    // One warning per malformed frame, one per unknown type (not per frame).
    expect(warn).toHaveBeenCalledTimes(2)
  })

  it('training_status carries paused; play_status drives the speed every viewer sees', () => {
    const store = useRunStore()
    store.apply(hello({ steps_per_second: 5 }))
    store.apply(trainingStatus({ paused: true }))
    expect(store.trainingPaused).toBe(true)
    expect(store.playPaused).toBe(false)
    store.noteSpeedRequest(20)
    expect(store.speed).toBe(20)
    store.apply(playStatus({ paused: true, steps_per_second: 2 }))
    expect(store.playPaused).toBe(true)
    expect(store.speed).toBe(2)
    expect(store.speedRange).toEqual({ min: 0.5, max: 60 })
  })

  it('keeps the checkpoint list as the server last sent it', () => {
    const store = useRunStore()
    store.apply(checkpoints({ follow: 'pinned', pinned: 'ckpt_000100.pt' }))
    expect(store.checkpoints?.items).toHaveLength(4)
    expect(store.checkpoints?.follow).toBe('pinned')
  })

  it('hands training reports to the metrics store, comparisons to the compare store, answers to feedback', () => {
    const store = useRunStore()
    const metrics = useMetricsStore()
    const compare = useCompareStore()
    const feedback = useFeedbackStore()
    store.apply(hello())
    store.apply(metricsHistory({ points: metricPoints(3), total_points: 300 }))
    store.apply({ type: 'metrics', points: metricPoints(2, 10_000) })
    store.apply({ type: 'evaluation', evaluation: evaluationPoint({ checkpoint: 'b.pt', env_step: 50_000 }) })
    expect(metrics.series.env_step).toEqual([1000, 2000, 3000, 10_000, 11_000])
    // The server's count before downsampling, plus the live points since.
    expect(metrics.totalPoints).toBe(302)
    expect(metrics.evaluations.map(e => e.checkpoint)).toEqual(['ckpt_000100.pt', 'b.pt'])
    store.apply(compareStarted())
    expect(compare.status).toBe('running')
    store.apply({ type: 'compare_stopped', reason: 'done' })
    expect(compare.stopReason).toBe('done')
    store.apply({ type: 'ack', request: 'pause_play', message: 'live play paused' })
    store.apply({ type: 'error', message: 'no such checkpoint', request: 'pick_checkpoint' })
    expect(feedback.toasts.map(t => [t.kind, t.request])).toEqual([['ack', 'pause_play'], ['error', 'pick_checkpoint']])
    expect(feedback.toasts[1]?.text).toContain('no such checkpoint')
  })

  it('a hello from another run clears the curves and the comparison too', () => {
    const store = useRunStore()
    store.apply(hello())
    store.apply(metricsHistory())
    store.apply(compareStarted())
    store.apply(hello({ config_name: 'level_2_pomdp', level: 'L2' }))
    expect(useMetricsStore().series.env_step).toEqual([])
    expect(useMetricsStore().evaluations).toEqual([])
    expect(useCompareStore().status).toBe('idle')
  })
})

afterEach(() => {
  vi.useRealTimers()
})
