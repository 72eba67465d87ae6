import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import QValues from '../../src/components/QValues.vue'
import { barFractions, greedyIndex } from '../../src/decision'
import { ACTIONS } from './fixtures'

function mountQ(q: number[], mask: boolean[]) {
  return mount(QValues, { props: { actions: ACTIONS, qValues: q, mask } })
}

describe('QValues', () => {
  it('highlights the best legal action, not the best overall', () => {
    // INTERACT has the highest Q but is masked, so RIGHT is the greedy choice.
    const w = mountQ([1, 2, 3, 4, 9, 0.5], [true, true, true, true, false, true])
    expect(w.get('[data-testid="q-values"]').attributes('data-greedy')).toBe('RIGHT')
    const greedy = w.findAll('[data-greedy="true"]')
    expect(greedy).toHaveLength(1)
    expect(greedy[0]?.attributes('data-testid')).toBe('q-RIGHT')
    expect(greedy[0]?.classes()).toContain('greedy')
    expect(greedy[0]?.text()).toContain('next')
  })

  it('calls the greedy action "best", not "next", once the episode is over', () => {
    const w = mount(QValues, { props: { actions: ACTIONS, qValues: [1, 2, 3, 4, 5, 6], mask: ACTIONS.map(() => true), terminal: true } })
    expect(w.get('[data-testid="q-WAIT"]').text()).toContain('best')
    expect(w.text()).not.toContain('next')
  })

  it('greys masked actions and labels them as masked', () => {
    const w = mountQ([1, 2, 3, 4, 9, 0.5], [false, true, true, true, false, true])
    for (const name of ['UP', 'INTERACT']) {
      const row = w.get(`[data-testid="q-${name}"]`)
      expect(row.attributes('data-legal')).toBe('false')
      expect(row.classes()).toContain('masked')
      expect(row.text()).toContain('masked')
    }
    const legal = w.get('[data-testid="q-WAIT"]')
    expect(legal.classes()).not.toContain('masked')
    expect(legal.text()).not.toContain('masked')
  })

  it('prints every Q-value', () => {
    const w = mountQ([-1.5, 2.25, 3, 4, 5, 6], Array.from({ length: 6 }, () => true))
    expect(w.get('[data-testid="q-UP"]').text()).toContain('-1.50')
    expect(w.get('[data-testid="q-WAIT"]').text()).toContain('6.00')
  })

  it('refuses to draw Q-values that do not line up with the actions', () => {
    const w = mountQ([1, 2, 3], [true, true, true])
    expect(w.findAll('.row')).toHaveLength(0)
    expect(w.text()).toContain('do not line up')
  })
})

describe('decision helpers', () => {
  it('greedyIndex takes the max over legal actions, first on ties, null if none legal', () => {
    expect(greedyIndex([5, 1, 5], [true, true, true])).toBe(0)
    expect(greedyIndex([5, 1, 7], [false, true, false])).toBe(1)
    expect(greedyIndex([1, 2], [false, false])).toBeNull()
  })

  it('barFractions spans the values and handles a flat set', () => {
    expect(barFractions([0, 10])).toEqual([0.06, 1])
    expect(barFractions([3, 3])).toEqual([1, 1])
  })
})
