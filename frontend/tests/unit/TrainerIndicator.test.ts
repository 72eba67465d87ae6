import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import TrainerIndicator from '../../src/components/TrainerIndicator.vue'

describe('TrainerIndicator', () => {
  it('is green with the trainer\'s URL when it answers', () => {
    const w = mount(TrainerIndicator, { props: { view: { state: 'ok', url: 'http://gpu-box:8766', error: null, detail: null } } })
    const el = w.get('[data-testid="trainer-indicator"]')
    expect(el.attributes('data-state')).toBe('ok')
    expect(el.classes()).toContain('ok')
    expect(el.text()).toContain('Trainer')
    expect(w.get('[data-testid="trainer-url"]').text()).toBe('http://gpu-box:8766')
    expect(w.find('[data-testid="trainer-error"]').exists()).toBe(false)
  })

  it('is red with the error and what to check when it does not', async () => {
    const detail = 'connection refused: is run_demo.py running on gpu-box, and port 8766 open in its firewall?'
    const w = mount(TrainerIndicator, { props: { view: { state: 'ok', url: 'http://gpu-box:8766', error: null, detail: null } } })
    await w.setProps({ view: { state: 'error', url: 'http://gpu-box:8766', error: 'refused', detail } })
    const el = w.get('[data-testid="trainer-indicator"]')
    expect(el.attributes('data-state')).toBe('error')
    expect(el.classes()).toContain('error')
    expect(w.get('[data-testid="trainer-url"]').text()).toBe('http://gpu-box:8766')
    expect(w.get('[data-testid="trainer-error"]').text()).toBe('refused')
    expect(w.get('[data-testid="trainer-detail"]').text()).toBe(detail)
    // The whole sentence is in the tooltip too, for when the header cuts it short.
    expect(el.attributes('title')).toContain(detail)
  })

  it('shows nothing without a view (no dev server to ask)', () => {
    const w = mount(TrainerIndicator, { props: { view: null } })
    expect(w.find('[data-testid="trainer-indicator"]').exists()).toBe(false)
  })
})
