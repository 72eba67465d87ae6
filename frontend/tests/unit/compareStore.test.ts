import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { endCause, useCompareStore } from '../../src/stores/compare'
import { compareStarted, compareState, meters, state, world } from './fixtures'

const RULES = { world: world(), stepCap: 500 }

describe('compare store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
  })

  it('goes requested -> running -> stopped, keeping both sides\' checkpoints and the layout', () => {
    const compare = useCompareStore()
    expect(compare.status).toBe('idle')
    compare.noteRequested(null, 'ckpt_005000.pt')
    expect(compare.status).toBe('starting')
    expect(compare.active).toBe(true)
    expect(compare.requested).toEqual({ left: null, right: 'ckpt_005000.pt' })
    compare.applyStarted(compareStarted())
    expect(compare.status).toBe('running')
    expect(compare.seed).toBe(1234)
    expect(compare.affordances.map(a => a.name)).toEqual(['Bed', 'Job'])
    expect(compare.left?.model.checkpoint).toBe('ckpt_000004.pt')
    expect(compare.right?.model.env_step).toBe(1_300_000)
    compare.applyStopped('stopped by a viewer')
    expect(compare.status).toBe('stopped')
    expect(compare.active).toBe(false)
    expect(compare.stopReason).toBe('stopped by a viewer')
  })

  it('each tick updates both sides and the one shared step counter', () => {
    const compare = useCompareStore()
    compare.applyStarted(compareStarted())
    compare.applyState(compareState(7, { x: 1, y: 2 }, { x: 5, y: 6 }), RULES)
    expect(compare.step).toBe(7)
    expect(compare.left?.state?.x).toBe(1)
    expect(compare.right?.state?.y).toBe(6)
    expect(compare.left?.ended).toBeNull()
  })

  it('remembers when and how a side ended while the other plays on, until both start again', () => {
    const compare = useCompareStore()
    compare.applyStarted(compareStarted())
    compare.applyState(compareState(40, { done: true, meters: meters({ energy: 0 }) }, {}), RULES)
    // The server keeps sending the ended side's last state while the other side steps.
    compare.applyState({ ...compareState(41), left: state({ step: 40, done: true, meters: meters({ energy: 0 }) }) }, RULES)
    compare.applyState({ ...compareState(120, {}, { done: true, meters: meters({ health: 0 }) }), left: state({ step: 40, done: true, meters: meters({ energy: 0 }) }) }, RULES)
    expect(compare.left?.ended).toEqual({ step: 40, cause: 'energy' })
    expect(compare.right?.ended).toEqual({ step: 120, cause: 'health' })
    expect(compare.step).toBe(120)
    // Both ended: the next episode starts for both and the endings clear.
    compare.applyState(compareState(0, { episode: 2 }, { episode: 2 }), RULES)
    expect(compare.left?.ended).toBeNull()
    expect(compare.right?.ended).toBeNull()
  })

  it('ignores states once stopped, and a lost connection stops an active comparison', () => {
    const compare = useCompareStore()
    compare.applyStarted(compareStarted())
    compare.connectionLost()
    expect(compare.status).toBe('stopped')
    expect(compare.stopReason).toContain('connection')
    compare.applyState(compareState(9), RULES)
    expect(compare.step).toBeNull()
    compare.reset()
    compare.connectionLost()
    expect(compare.status).toBe('idle')
  })

  it('says how an episode ended from its last state and the world\'s terminal meters', () => {
    expect(endCause(state({ done: true, step: 500 }), RULES)).toBe('step_cap')
    expect(endCause(state({ done: true, meters: meters({ health: 0 }) }), RULES)).toBe('health')
    expect(endCause(state({ done: true, meters: meters({ energy: 0 }) }), { world: null, stepCap: 500 })).toBe('ended')
  })
})
