import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import TownGrid from '../../src/components/TownGrid.vue'

const AFFORDANCES = [
  { name: 'Bed', x: 1, y: 1 },
  { name: 'Gym', x: 7, y: 3 },
  { name: 'Park', x: 0, y: 4 },
]

function translate(el: { attributes: (name: string) => string | undefined }): string | undefined {
  return el.attributes('transform') ?? el.attributes('style')
}

describe('TownGrid', () => {
  it('draws one cell per grid square and every affordance at its cell', () => {
    const w = mount(TownGrid, { props: { width: 8, height: 6, affordances: AFFORDANCES, agent: null } })
    expect(w.get('[data-testid="grid"]').attributes('viewBox')).toBe('-6 -6 812 612')
    expect(w.findAll('rect.cell')).toHaveLength(48)
    for (const a of AFFORDANCES) {
      const g = w.get(`[data-testid="affordance-${a.name}"]`)
      expect(g.attributes('data-x')).toBe(String(a.x))
      expect(g.attributes('data-y')).toBe(String(a.y))
      expect(translate(g)).toBe(`translate(${a.x * 100} ${a.y * 100})`)
      expect(g.text()).toContain(a.name)
    }
    expect(w.find('[data-testid="agent"]').exists()).toBe(false)
  })

  it('places the agent at its cell and moves it when the state changes', async () => {
    const w = mount(TownGrid, { props: { width: 8, height: 8, affordances: AFFORDANCES, agent: { x: 3, y: 5 } } })
    let agent = w.get('[data-testid="agent"]')
    expect(agent.attributes('data-x')).toBe('3')
    expect(agent.attributes('data-y')).toBe('5')
    expect(agent.attributes('style')).toContain('translate(300px, 500px)')
    await w.setProps({ agent: { x: 4, y: 5 } })
    agent = w.get('[data-testid="agent"]')
    expect(agent.attributes('data-x')).toBe('4')
    expect(agent.attributes('style')).toContain('translate(400px, 500px)')
  })

  it('highlights the affordance the agent stands on', () => {
    const w = mount(TownGrid, { props: { width: 8, height: 8, affordances: AFFORDANCES, agent: { x: 1, y: 1 }, standingOn: 'Bed' } })
    expect(w.get('[data-testid="affordance-Bed"]').classes()).toContain('occupied')
    expect(w.get('[data-testid="affordance-Gym"]').classes()).not.toContain('occupied')
  })

  it('shades outside the vision window only under partial observability', () => {
    const full = mount(TownGrid, { props: { width: 8, height: 8, affordances: AFFORDANCES, agent: { x: 6, y: 2 } } })
    expect(full.find('[data-testid="vision-window"]').exists()).toBe(false)
    expect(full.find('.fog').exists()).toBe(false)

    const partial = mount(TownGrid, {
      props: { width: 8, height: 8, affordances: AFFORDANCES, agent: { x: 6, y: 2 }, partial: true, visionWindow: 5 },
    })
    const win = partial.get('[data-testid="vision-window"]')
    expect(win.attributes('data-x0')).toBe('4')
    expect(win.attributes('data-y0')).toBe('0')
    expect(win.attributes('data-size')).toBe('5')
    expect(partial.find('.fog').exists()).toBe(true)
  })

  it('draws interaction progress as a ring when an interaction is under way', () => {
    const w = mount(TownGrid, { props: { width: 8, height: 8, affordances: AFFORDANCES, agent: { x: 1, y: 1 }, interactionProgress: 0.4 } })
    expect(w.get('[data-testid="interaction-progress"]').attributes('stroke-dasharray')).toBe('0.4 1')
  })

  it('moves the trail dots on a step instead of replacing them (transforms only)', async () => {
    const trail = [{ x: 1, y: 1 }, { x: 2, y: 1 }, { x: 3, y: 1 }]
    const w = mount(TownGrid, { props: { width: 8, height: 8, affordances: AFFORDANCES, agent: { x: 4, y: 1 }, trail } })
    const before = w.findAll('.trail').map(d => d.element)
    expect(before).toHaveLength(3)
    await w.setProps({ agent: { x: 5, y: 1 }, trail: [...trail.slice(1), { x: 4, y: 1 }] })
    const after = w.findAll('.trail')
    expect(after.map(d => d.element)).toEqual(before)
    expect(after.map(d => d.attributes('style'))).toEqual([
      expect.stringContaining('translate(200px, 100px)'),
      expect.stringContaining('translate(300px, 100px)'),
      expect.stringContaining('translate(400px, 100px)'),
    ])
  })
})
