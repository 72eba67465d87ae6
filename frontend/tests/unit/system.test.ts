import type { VueWrapper } from '@vue/test-utils'
import type { FetchCall } from './fakeFetch'
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import App from '../../src/App.vue'
import SystemPanel from '../../src/components/SystemPanel.vue'
import { useSystemStore } from '../../src/stores/system'
import { json, stubFetch } from './fakeFetch'
import { FakeWebSocket } from './fakeWebSocket'
import { gpuSample, hello, systemSample, systemSamples } from './fixtures'

let wrapper: VueWrapper | undefined

beforeEach(() => {
  vi.useFakeTimers()
})

afterEach(() => {
  wrapper?.unmount()
  wrapper = undefined
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

/** Samples each sparkline of a card shows (the points drawn are thinned past 240). */
function points(w: VueWrapper, card: string, attribute = 'data-values'): string[] {
  return w.get(card).findAll('[data-testid="sparkline"]').map(s => s.attributes(attribute) ?? '')
}

describe('system panel', () => {
  function mountPanel(): VueWrapper {
    const pinia = createPinia()
    setActivePinia(pinia)
    wrapper = mount(SystemPanel, { global: { plugins: [pinia] } })
    return wrapper
  }

  it('waits for the first sample, then draws the history and each live sample after it', async () => {
    const w = mountPanel()
    const system = useSystemStore()
    expect(w.find('[data-testid="system-waiting"]').exists()).toBe(true)

    system.applyHistory({ type: 'system_history', samples: systemSamples(30, {}, 1000) })
    await nextTick()
    expect(w.find('[data-testid="system-waiting"]').exists()).toBe(false)
    expect(points(w, '[data-testid="cpu-card"]')).toEqual(['30'])
    expect(points(w, '[data-testid="cpu-card"]', 'data-points')).toEqual(['30'])
    expect(points(w, '[data-testid="memory-card"]')).toEqual(['30'])
    expect(w.get('[data-testid="cpu-value"]').text()).toBe('129 %')

    system.applySample({ type: 'system', sample: systemSample({ t: 1002, cpu_percent: 250, memory_bytes: 16e9 }) })
    await nextTick()
    expect(points(w, '[data-testid="cpu-card"]')).toEqual(['31'])
    expect(w.get('[data-testid="cpu-value"]').text()).toBe('250 %')
    expect(w.get('[data-testid="memory-value"]').text()).toBe('16.0 GB 25 %')
    // Every GPU sparkline grew with it.
    expect(points(w, '[data-testid="gpu-card"]')).toEqual(['31', '31', '31', '31'])

    // A repeated sample (reconnect overlap) adds nothing.
    system.applySample({ type: 'system', sample: systemSample({ t: 1002, cpu_percent: 250 }) })
    await nextTick()
    expect(points(w, '[data-testid="cpu-card"]')).toEqual(['31'])
    expect(w.get('[data-testid="system-panel"]').attributes('data-samples')).toBe('31')
  })

  it('shows the last 15 minutes in the sparklines', async () => {
    const w = mountPanel()
    useSystemStore().applyHistory({ type: 'system_history', samples: systemSamples(1200, {}, 10_000) })
    await nextTick()
    expect(points(w, '[data-testid="cpu-card"]')).toEqual(['451'])
    expect(points(w, '[data-testid="cpu-card"]', 'data-points')).toEqual(['226'])
    expect(w.get('.panel-title').text()).toContain('last 15 min')
  })

  it('has a card per GPU with utilisation, memory, temperature and power', async () => {
    const w = mountPanel()
    useSystemStore().applyHistory({ type: 'system_history', samples: [
      systemSample({ t: 10, gpus: [gpuSample(), gpuSample({ index: 1, name: 'NVIDIA A10', utilization_percent: 3, temperature_c: null, power_watts: null })] }),
      systemSample({ t: 12, gpus: [gpuSample({ utilization_percent: 91.6 }), gpuSample({ index: 1, name: 'NVIDIA A10', utilization_percent: 4, temperature_c: null, power_watts: null })] }),
    ] })
    await nextTick()
    const cards = w.findAll('[data-testid="gpu-card"]')
    expect(cards.map(c => c.attributes('data-index'))).toEqual(['0', '1'])
    expect(cards[0]?.text()).toContain('NVIDIA H100 80GB HBM3')
    expect(cards[0]?.get('[data-testid="gpu-utilization"]').text()).toContain('92 %')
    expect(cards[0]?.get('[data-testid="gpu-memory"]').text()).toContain('20.0 GB / 80.0 GB')
    expect(cards[0]?.get('[data-testid="gpu-temperature"]').text()).toContain('61 °C')
    expect(cards[0]?.get('[data-testid="gpu-power"]').text()).toContain('351 W')
    expect(cards[1]?.get('[data-testid="gpu-temperature"]').text()).toContain('not reported')
    // No power reported: an empty sparkline, not a line at zero.
    expect(cards[1]?.get('[data-testid="gpu-power"] [data-testid="sparkline"]').attributes('data-points')).toBe('0')
    expect(w.find('[data-testid="gpu-absent"]').exists()).toBe(false)
  })

  it('says when there is no GPU, and why', async () => {
    const w = mountPanel()
    const system = useSystemStore()
    system.applyHistory({ type: 'system_history', samples: systemSamples(3, { gpus: [] }) })
    await nextTick()
    expect(w.findAll('[data-testid="gpu-card"]')).toHaveLength(0)
    expect(w.get('[data-testid="gpu-absent"]').text()).toContain('No GPU')
    system.applySnapshot({ samples: [], gpu_note: 'no NVIDIA GPU found (NVML: driver not loaded)' })
    await nextTick()
    expect(w.get('[data-testid="gpu-absent"] [data-testid="gpu-note"]').text()).toBe('no NVIDIA GPU found (NVML: driver not loaded)')
    expect(w.find('[data-testid="cpu-card"]').exists()).toBe(true)
  })
})

describe('system panel in the page', () => {
  let calls: FetchCall[]

  beforeEach(() => {
    vi.stubGlobal('WebSocket', FakeWebSocket)
    FakeWebSocket.reset()
    calls = stubFetch(call => (call.url === '/api/system'
      ? json({ samples: systemSamples(2, { gpus: [] }, 998), gpu_note: 'no NVIDIA GPU found' })
      : undefined)).calls
  })

  it('asks GET /api/system once per connection, and streams samples from the socket', async () => {
    wrapper = mount(App, { global: { plugins: [createPinia()] } })
    const w = wrapper
    const ws = FakeWebSocket.latest()
    await vi.advanceTimersByTimeAsync(0)
    expect(calls.filter(c => c.url === '/api/system')).toHaveLength(0)

    ws.serverOpen()
    ws.serverSend(hello())
    ws.serverSend({ type: 'system_history', samples: systemSamples(5, { gpus: [] }, 1000) })
    for (let i = 0; i < 5; i++)
      await vi.advanceTimersByTimeAsync(0)
    await nextTick()
    expect(calls.filter(c => c.url === '/api/system')).toEqual([{ method: 'GET', url: '/api/system', body: undefined }])
    expect(w.get('[data-testid="gpu-absent"]').text()).toContain('no NVIDIA GPU found')
    expect(points(w, '[data-testid="cpu-card"]')).toEqual(['5'])

    ws.serverSend({ type: 'system', sample: systemSample({ t: 1002, gpus: [] }) })
    await nextTick()
    expect(points(w, '[data-testid="cpu-card"]')).toEqual(['6'])

    // A reconnect asks again.
    ws.drop()
    await vi.advanceTimersByTimeAsync(500)
    FakeWebSocket.latest().serverOpen()
    await vi.advanceTimersByTimeAsync(0)
    expect(calls.filter(c => c.url === '/api/system')).toHaveLength(2)
  })

  it('shows nothing wrong when the server has no /api/system', async () => {
    stubFetch()
    const warn = vi.spyOn(console, 'warn')
    wrapper = mount(App, { global: { plugins: [createPinia()] } })
    FakeWebSocket.latest().serverOpen()
    await vi.advanceTimersByTimeAsync(0)
    expect(wrapper.find('[data-testid="system-waiting"]').exists()).toBe(true)
    expect(warn).not.toHaveBeenCalled()
  })
})
