import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import MeterBar from '../../src/components/MeterBar.vue'

describe('MeterBar', () => {
  it('shows the name, the value and a bar of matching width', () => {
    const w = mount(MeterBar, { props: { name: 'hygiene', value: 0.72 } })
    const root = w.get('[data-testid="meter-hygiene"]')
    expect(root.attributes('data-value')).toBe('0.72')
    expect(root.text()).toContain('hygiene')
    expect(w.get('.value').text()).toBe('0.72')
    expect(w.get('.fill').attributes('style')).toContain('width: 72%')
    expect(root.attributes('data-level')).toBe('ok')
    expect(root.classes()).not.toContain('level-low')
  })

  it('marks a value under the 0.3 threshold as low and draws the tick at 0.3', () => {
    const w = mount(MeterBar, { props: { name: 'satiation', value: 0.21 } })
    const root = w.get('[data-testid="meter-satiation"]')
    expect(root.attributes('data-level')).toBe('low')
    expect(root.classes()).toContain('level-low')
    expect(w.get('[data-testid="threshold-tick"]').attributes('style')).toContain('left: 30%')
  })

  it('marks a middling value as a warning', () => {
    const w = mount(MeterBar, { props: { name: 'mood', value: 0.4 } })
    expect(w.get('[data-testid="meter-mood"]').attributes('data-level')).toBe('warn')
  })

  it('shows money in dollars, without the cascade tick', () => {
    const w = mount(MeterBar, { props: { name: 'money', value: 0.5 } })
    expect(w.get('.value').text()).toBe('$50')
    expect(w.get('[data-testid="meter-money"]').attributes('data-level')).toBe('ok')
    expect(w.find('[data-testid="threshold-tick"]').exists()).toBe(false)
  })

  it('tags terminal meters', () => {
    expect(mount(MeterBar, { props: { name: 'energy', value: 1, terminal: true } }).text()).toContain('terminal')
    expect(mount(MeterBar, { props: { name: 'social', value: 1 } }).text()).not.toContain('terminal')
  })

  it('shows a dash and no level before any state', () => {
    const w = mount(MeterBar, { props: { name: 'energy', value: null } })
    expect(w.get('.value').text()).toBe('–')
    expect(w.get('[data-testid="meter-energy"]').attributes('data-value')).toBe('')
  })
})
