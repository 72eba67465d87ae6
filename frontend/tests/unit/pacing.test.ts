import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'
import { createFrameBatch, FRAME_FALLBACK_MS, MAX_BATCH, PANEL_HZ, pacedIntervalMs, TOWN_HZ, usePaced } from '../../src/composables/pacing'
import { useRunStore } from '../../src/stores/run'
import { hello, state } from './fixtures'

beforeEach(() => {
  vi.useFakeTimers()
  setActivePinia(createPinia())
})

afterEach(() => {
  vi.useRealTimers()
})

describe('createFrameBatch', () => {
  it('applies the states of one frame together, all of them, in order, with their arrival times', () => {
    const applied: [unknown, number][] = []
    const batch = createFrameBatch((data, at) => applied.push([data, at]))
    const t0 = Date.now()
    batch.defer('s1')
    vi.advanceTimersByTime(5)
    batch.defer('s2')
    batch.defer('s3')
    expect(applied).toEqual([])
    vi.advanceTimersToNextFrame()
    expect(applied).toEqual([['s1', t0], ['s2', t0 + 5], ['s3', t0 + 5]])
    // Nothing queued: the next frame applies nothing.
    vi.advanceTimersToNextFrame()
    expect(applied).toHaveLength(3)
  })

  it('applies any other message at once, after the states that came before it', () => {
    const applied: unknown[] = []
    const batch = createFrameBatch(data => applied.push(data))
    batch.defer('state 1')
    batch.now('episode_end')
    expect(applied).toEqual(['state 1', 'episode_end'])
    batch.defer('state 2')
    vi.advanceTimersToNextFrame()
    expect(applied).toEqual(['state 1', 'episode_end', 'state 2'])
  })

  it('does not wait for a frame that does not come (a hidden tab), nor hold more than MAX_BATCH', () => {
    vi.stubGlobal('requestAnimationFrame', () => 0)
    vi.stubGlobal('cancelAnimationFrame', () => {})
    const applied: unknown[] = []
    const batch = createFrameBatch(data => applied.push(data))
    batch.defer('a')
    vi.advanceTimersByTime(FRAME_FALLBACK_MS - 1)
    expect(applied).toEqual([])
    vi.advanceTimersByTime(1)
    expect(applied).toEqual(['a'])
    for (let i = 0; i < MAX_BATCH; i++)
      batch.defer(i)
    expect(applied).toHaveLength(1 + MAX_BATCH)
    vi.unstubAllGlobals()
  })

  it('cancel forgets what is queued', () => {
    const applied: unknown[] = []
    const batch = createFrameBatch(data => applied.push(data))
    batch.defer('a')
    batch.cancel()
    vi.advanceTimersByTime(FRAME_FALLBACK_MS * 2)
    expect(applied).toEqual([])
  })
})

describe('usePaced', () => {
  it('follows every change when the interval is 0', async () => {
    const source = ref(0)
    const scope = effectScope()
    const shown = scope.run(() => usePaced(() => source.value, () => 0))!
    for (let i = 1; i <= 5; i++) {
      source.value = i
      await nextTick()
      expect(shown.value).toBe(i)
    }
    scope.stop()
  })

  it('shows a change after a quiet spell at once, later ones at most once per interval, always the newest', async () => {
    const source = ref(0)
    const scope = effectScope()
    const shown = scope.run(() => usePaced(() => source.value, () => 100))!
    source.value = 1
    await nextTick()
    expect(shown.value).toBe(1)
    // 60 changes a second for half a second: at most one update per 100 ms, never older than that.
    const seen = new Set<number>()
    for (let i = 2; i <= 31; i++) {
      vi.advanceTimersByTime(1000 / 60)
      source.value = i
      await nextTick()
      seen.add(shown.value)
      expect(i - shown.value).toBeLessThanOrEqual(Math.ceil(100 / (1000 / 60)))
    }
    expect(seen.size).toBeLessThanOrEqual(6)
    // The last change shows when its interval ends, though nothing changes after it.
    vi.advanceTimersByTime(100)
    expect(shown.value).toBe(31)
    scope.stop()
  })

  it('sees one synchronous burst of changes as one', async () => {
    const a = ref(0)
    const b = ref(0)
    const scope = effectScope()
    const shown = scope.run(() => usePaced(() => ({ a: a.value, b: b.value }), () => 100))!
    a.value = 1
    b.value = 1
    await nextTick()
    expect(shown.value).toEqual({ a: 1, b: 1 })
    scope.stop()
  })
})

describe('the run store at a given pace', () => {
  function play(store: ReturnType<typeof useRunStore>, steps: number, perSecond: number): Promise<void> {
    return (async () => {
      for (let i = 1; i <= steps; i++) {
        store.apply(state({ episode: 1, step: i, x: i % 8 }))
        await nextTick()
        vi.advanceTimersByTime(1000 / perSecond)
      }
    })()
  }

  it('up to 20 steps/s the town and the panels show every state', async () => {
    const store = useRunStore()
    store.apply(hello({ steps_per_second: 20 }))
    const townSteps: number[] = []
    const panelSteps: number[] = []
    for (let i = 1; i <= 20; i++) {
      store.apply(state({ episode: 1, step: i }))
      await nextTick()
      townSteps.push(store.town.state?.step ?? -1)
      panelSteps.push(store.panel.state?.step ?? -1)
      vi.advanceTimersByTime(50)
    }
    expect(townSteps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(panelSteps).toEqual(townSteps)
    expect(store.smooth).toBe(true)
  })

  it('at 60 steps/s the town updates at most TOWN_HZ and the panels PANEL_HZ times a second, never behind by more than their interval', async () => {
    const store = useRunStore()
    store.apply(hello({ steps_per_second: 60 }))
    expect(store.smooth).toBe(false)
    const townSeen = new Set<number>()
    const panelSeen = new Set<number>()
    for (let i = 1; i <= 60; i++) {
      store.apply(state({ episode: 1, step: i }))
      await nextTick()
      const town = store.town.state?.step ?? 0
      const panel = store.panel.state?.step ?? 0
      townSeen.add(town)
      panelSeen.add(panel)
      // The store itself has every step; what is drawn lags by less than its interval.
      expect(store.state?.step).toBe(i)
      expect((i - town) * (1000 / 60)).toBeLessThanOrEqual(pacedIntervalMs(60, TOWN_HZ))
      expect((i - panel) * (1000 / 60)).toBeLessThanOrEqual(pacedIntervalMs(60, PANEL_HZ))
      vi.advanceTimersByTime(1000 / 60)
    }
    expect(townSeen.size).toBeLessThanOrEqual(TOWN_HZ + 1)
    expect(panelSeen.size).toBeLessThanOrEqual(PANEL_HZ + 1)
    // Once play stops, both catch up with the last state.
    vi.advanceTimersByTime(200)
    expect(store.town.state?.step).toBe(60)
    expect(store.panel.state?.step).toBe(60)
  })

  it('keeps every step in the trail even when the town skips states', async () => {
    const store = useRunStore()
    store.apply(hello({ steps_per_second: 60 }))
    await play(store, 6, 60)
    vi.advanceTimersByTime(200)
    // x went 1, 2, ..., 6: the trail holds each cell left, the town ends on the last one.
    expect(store.town.trail.map(p => p.x)).toEqual([1, 2, 3, 4, 5])
    expect(store.town.state?.x).toBe(6)
  })
})
