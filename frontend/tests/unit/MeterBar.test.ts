import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import MeterBar from '../../src/components/MeterBar.vue'
import { formatMeter, meterLevel } from '../../src/world'
import { world } from './fixtures'

const WORLD = world()

function bar(name: string, value: number | null, w = WORLD) {
  return mount(MeterBar, { props: { name, value, world: w } })
}

describe('MeterBar', () => {
  it('shows the name, the value and a bar of matching length', () => {
    const w = bar('hygiene', 0.72)
    const root = w.get('[data-testid="meter-hygiene"]')
    expect(root.attributes('data-value')).toBe('0.72')
    expect(root.text()).toContain('hygiene')
    expect(w.get('.value').text()).toBe('0.72')
    expect(w.get('.fill').attributes('style')).toContain('scaleX(0.72)')
    expect(root.attributes('data-level')).toBe('ok')
    expect(root.classes()).not.toContain('level-low')
  })

  it('marks a value under the world\'s cascade threshold as low and draws the tick there', () => {
    const w = bar('satiation', 0.21)
    const root = w.get('[data-testid="meter-satiation"]')
    expect(root.attributes('data-level')).toBe('low')
    expect(root.classes()).toContain('level-low')
    expect(w.get('[data-testid="threshold-tick"]').attributes('style')).toContain('left: 30%')
  })

  it('marks a middling value as a warning', () => {
    expect(bar('mood', 0.4).get('[data-testid="meter-mood"]').attributes('data-level')).toBe('warn')
  })

  it('takes the threshold from hello: a different cascade_threshold changes the level and the tick', () => {
    const strict = world({ cascade_threshold: 0.45 })
    const w = bar('satiation', 0.4, strict)
    expect(w.get('[data-testid="meter-satiation"]').attributes('data-level')).toBe('low')
    expect(w.get('[data-testid="threshold-tick"]').attributes('style')).toContain('left: 45%')
    expect(bar('satiation', 0.4).get('[data-testid="meter-satiation"]').attributes('data-level')).toBe('warn')
    expect(meterLevel(0.2, 'energy', world({ cascade_threshold: 0.1 }))).toBe('warn')
    expect(meterLevel(0.05, 'energy', world({ cascade_threshold: 0.1 }))).toBe('low')
  })

  it('shows money in dollars by the world\'s money scale, without the cascade tick', () => {
    const w = bar('money', 0.5)
    expect(w.get('.value').text()).toBe('$50')
    expect(w.get('[data-testid="meter-money"]').attributes('data-level')).toBe('ok')
    expect(w.find('[data-testid="threshold-tick"]').exists()).toBe(false)
    expect(bar('money', 0.5, world({ money_scale: 250 })).get('.value').text()).toBe('$125')
    expect(formatMeter('money', 0.37, world({ money_scale: 1000 }))).toBe('$370')
  })

  it('tags the meters the world calls terminal', () => {
    expect(bar('energy', 1).text()).toContain('terminal')
    expect(bar('social', 1).text()).not.toContain('terminal')
    const socialTerminal = world({ meters: [{ name: 'social', terminal: true, cascade_source: false }] })
    expect(bar('social', 1, socialTerminal).text()).toContain('terminal')
    expect(bar('energy', 1, socialTerminal).text()).not.toContain('terminal')
  })

  it('shows a dash and no level before any state, and no tick before hello', () => {
    const w = bar('energy', null)
    expect(w.get('.value').text()).toBe('–')
    expect(w.get('[data-testid="meter-energy"]').attributes('data-value')).toBe('')
    const early = mount(MeterBar, { props: { name: 'energy', value: 0.5, world: null } })
    expect(early.get('[data-testid="meter-energy"]').attributes('data-level')).toBe('none')
    expect(early.find('[data-testid="threshold-tick"]').exists()).toBe(false)
  })
})
