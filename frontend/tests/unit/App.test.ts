import type { VueWrapper } from '@vue/test-utils'
import { mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import App from '../../src/App.vue'
import { FakeWebSocket } from './fakeWebSocket'
import { episodeEnd, hello, meters, modelLoaded, state, trainingStatus } from './fixtures'

let wrapper: VueWrapper | undefined

async function mountApp(): Promise<{ w: VueWrapper, ws: FakeWebSocket }> {
  wrapper = mount(App, { global: { plugins: [createPinia()] } })
  const ws = FakeWebSocket.latest()
  ws.serverOpen()
  await nextTick()
  return { w: wrapper, ws }
}

async function serve(ws: FakeWebSocket, ...messages: unknown[]): Promise<void> {
  for (const m of messages)
    ws.serverSend(m)
  await nextTick()
}

beforeEach(() => {
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', FakeWebSocket)
  FakeWebSocket.reset()
})

afterEach(() => {
  wrapper?.unmount()
  wrapper = undefined
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('App wired to the live socket', () => {
  it('opens one same-origin socket and says live once open', async () => {
    const { w } = await mountApp()
    expect(FakeWebSocket.instances).toHaveLength(1)
    expect(FakeWebSocket.latest().url).toBe(`ws://${window.location.host}/ws`)
    expect(w.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('live')
  })

  it('renders what the server says', async () => {
    const { w, ws } = await mountApp()
    await serve(ws,
      hello(),
      modelLoaded({ checkpoint: 'ckpt_000420.pt', episode: 420 }),
      trainingStatus({ episode: 500, latest_checkpoint: 'ckpt_000500.pt' }),
      { type: 'episode_start', episode: 7, affordances: hello().affordances },
      state({ episode: 7, step: 12, x: 2, y: 2, action: 'LEFT', standing_on: 'Shower', meters: meters({ money: 0.37 }) }),
    )
    expect(w.get('[data-testid="checkpoint-name"]').text()).toBe('ckpt_000420.pt')
    expect(w.get('[data-testid="agent"]').attributes('data-x')).toBe('2')
    expect(w.get('[data-testid="agent"]').attributes('data-y')).toBe('2')
    expect(w.get('[data-testid="affordance-Shower"]').classes()).toContain('occupied')
    expect(w.get('[data-testid="meter-money"]').attributes('data-value')).toBe('0.37')
    expect(w.get('[data-testid="meter-money"]').text()).toContain('$37')
    expect(w.get('[data-testid="last-action"]').text()).toContain('LEFT')
    expect(w.get('[data-testid="episode-number"]').text()).toBe('#7')
    expect(w.get('[data-testid="step-counter"]').text()).toContain('12')
    expect(w.get('[data-testid="step-counter"]').text()).toContain('500')
    expect(w.get('[data-testid="training-status"]').text()).toContain('500')
    expect(w.get('[data-testid="training-status"]').text()).toContain('80 training episodes behind')
    expect(w.get('[data-testid="newer-checkpoint"]').text()).toContain('ckpt_000500.pt')
    expect(w.get('[data-testid="q-values"]').attributes('data-greedy')).toBe('WAIT')
  })

  it('records finished episodes in the history', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), modelLoaded(), episodeEnd({ episode: 1, steps: 150 }), episodeEnd({ episode: 2, steps: 210, cause: 'health' }))
    const bars = w.findAll('[data-testid="history-bar"]')
    expect(bars.map(b => [b.attributes('data-steps'), b.attributes('data-cause')])).toEqual([['150', 'energy'], ['210', 'health']])
  })

  it('says when no checkpoint exists yet, and flags an untrained one', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), { type: 'waiting_for_model', message: 'no checkpoint in runs/demo yet' })
    expect(w.text()).toContain('Waiting for the first checkpoint')
    expect(w.text()).toContain('no checkpoint in runs/demo yet')
    expect(w.find('[data-testid="checkpoint-name"]').exists()).toBe(false)
    await serve(ws, modelLoaded({ untrained: true }))
    expect(w.find('[data-testid="untrained-badge"]').exists()).toBe(true)
  })

  it('shows a lost connection truthfully and reconnects', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), state())
    ws.drop()
    await nextTick()
    expect(w.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('reconnecting')
    expect(w.text()).toContain('Connection lost')
    vi.advanceTimersByTime(500)
    expect(FakeWebSocket.instances).toHaveLength(2)
    FakeWebSocket.latest().serverOpen()
    await nextTick()
    expect(w.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('live')
    expect(w.text()).not.toContain('Connection lost')
  })

  it('sends set_speed from the speed buttons', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello())
    await w.get('[data-testid="speed-20"]').trigger('click')
    expect(ws.sent.map(s => JSON.parse(s) as unknown)).toEqual([{ type: 'set_speed', steps_per_second: 20 }])
    expect(w.get('[data-testid="speed-20"]').attributes('aria-pressed')).toBe('true')
  })

  it('closes its socket when unmounted', async () => {
    const { ws } = await mountApp()
    wrapper?.unmount()
    wrapper = undefined
    expect(ws.closeCalls).toHaveLength(1)
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(1)
  })
})
