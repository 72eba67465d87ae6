import type { VueWrapper } from '@vue/test-utils'
import type { FetchCall } from './fakeFetch'
import { mount } from '@vue/test-utils'
import type { Pinia } from 'pinia'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import App from '../../src/App.vue'
import AlertsPanel from '../../src/components/AlertsPanel.vue'
import { useAlertsStore } from '../../src/stores/alerts'
import { useFeedbackStore } from '../../src/stores/feedback'
import { useRunStore } from '../../src/stores/run'
import { json, stubFetch } from './fakeFetch'
import { FakeWebSocket } from './fakeWebSocket'
import { alertRule, alertsMessage, alertState, hello } from './fixtures'

let wrapper: VueWrapper | undefined

beforeEach(() => {
  vi.useFakeTimers()
  vi.setSystemTime(new Date('2025-10-09T14:10:00Z'))
})

afterEach(() => {
  wrapper?.unmount()
  wrapper = undefined
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

/** Let every pending request and its answer settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++)
    await vi.advanceTimersByTimeAsync(0)
  await nextTick()
}

describe('firing-alert banner', () => {
  let pinia: Pinia

  async function mountApp(): Promise<{ w: VueWrapper, ws: FakeWebSocket }> {
    vi.stubGlobal('WebSocket', FakeWebSocket)
    FakeWebSocket.reset()
    stubFetch()
    pinia = createPinia()
    wrapper = mount(App, { global: { plugins: [pinia] } })
    const ws = FakeWebSocket.latest()
    ws.serverOpen()
    ws.serverSend(hello())
    await settle()
    return { w: wrapper, ws }
  }

  const rules = [
    alertRule({ name: 'loss_nan', kind: 'nan_loss', threshold: 0, for_seconds: 0, severity: 'critical' }),
    alertRule({ name: 'slow_training', severity: 'warning' }),
    alertRule({ name: 'disk_low', kind: 'disk_free', threshold: 5e9, severity: 'info' }),
  ]

  it('shows one line per firing alert, most severe first, and goes when they resolve', async () => {
    const { w, ws } = await mountApp()
    ws.serverSend(alertsMessage(rules, rules.map(r => alertState({ name: r.name, kind: r.kind, severity: r.severity }))))
    await nextTick()
    expect(w.find('[data-testid="alert-banner"]').exists()).toBe(false)

    ws.serverSend(alertsMessage(rules, [
      alertState({ name: 'loss_nan', kind: 'nan_loss', severity: 'critical', state: 'firing', since: '2025-10-09T14:07:00Z', value: null, message: 'TD loss is nan at env step 120,000' }),
      alertState({ name: 'slow_training', state: 'firing', since: '2025-10-09T14:00:00Z', message: 'env steps/s 410 is below 50 % of its median 1,800' }),
      alertState({ name: 'disk_low', kind: 'disk_free', severity: 'info', state: 'pending', since: '2025-10-09T14:09:00Z' }),
    ]))
    await nextTick()
    const banner = w.get('[data-testid="alert-banner"]')
    expect(banner.attributes('role')).toBe('alert')
    const items = banner.findAll('[data-testid="alert-firing"]')
    expect(items.map(i => [i.attributes('data-name'), i.attributes('data-severity')])).toEqual([['loss_nan', 'critical'], ['slow_training', 'warning']])
    expect(items[0]?.classes()).toContain('critical')
    expect(items[0]?.text()).toContain('TD loss is nan at env step 120,000')
    expect(items[0]?.text()).toContain('3 min ago')
    expect(items[1]?.text()).toContain('10 min ago')
    // The banner sits above the header: the town view below it does not move for anything else.
    expect(w.get('.app').element.firstElementChild).toBe(banner.element)

    // The rules' rows say the same.
    const row = w.get('[data-testid="alert-rule"][data-name="loss_nan"]')
    expect(row.attributes('data-state')).toBe('firing')
    expect(w.get('[data-testid="alert-rule"][data-name="disk_low"]').attributes('data-state')).toBe('pending')

    ws.serverSend(alertsMessage(rules, [
      alertState({ name: 'loss_nan', kind: 'nan_loss', severity: 'critical', state: 'resolved', since: '2025-10-09T14:09:30Z' }),
      alertState({ name: 'slow_training', state: 'firing', since: '2025-10-09T14:00:00Z', message: 'still slow' }),
    ]))
    await nextTick()
    expect(w.findAll('[data-testid="alert-firing"]').map(i => i.attributes('data-name'))).toEqual(['slow_training'])
    expect(w.get('[data-testid="alert-rule"][data-name="loss_nan"]').attributes('data-state')).toBe('resolved')

    ws.serverSend(alertsMessage(rules, [alertState({ name: 'slow_training', state: 'resolved', since: '2025-10-09T14:10:00Z' })]))
    await nextTick()
    expect(w.find('[data-testid="alert-banner"]').exists()).toBe(false)
  })

  it('keeps the last known alerts through a drop, marked as such', async () => {
    const { w, ws } = await mountApp()
    ws.serverSend(alertsMessage([alertRule()], [alertState({ state: 'firing', since: '2025-10-09T14:00:00Z', message: 'slow' })]))
    await nextTick()
    ws.drop()
    await nextTick()
    expect(w.get('[data-testid="alert-banner"]').classes()).toContain('stale')
    expect(w.get('[data-testid="alert-firing"]').text()).toContain('last known')
  })

  it('reports a malformed alerts message like any other', async () => {
    const { w, ws } = await mountApp()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    ws.serverSend({ type: 'alerts', rules: [alertRule({ kind: 'bogus' as never })], alerts: [] })
    await nextTick()
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('alerts: rules[0].kind'))
    expect(useRunStore(pinia).rejected).toBe(1)
    expect(w.get('[data-testid="connection-status"]').attributes('title')).toContain('1 malformed message(s) dropped; last: alerts: rules[0].kind')
    expect(useRunStore(pinia).lastRejection).toContain('alerts: rules[0].kind: expected \'nan_loss\' | \'throughput_drop\'')
    expect(w.find('[data-testid="alert-rule"]').exists()).toBe(false)
    expect(w.find('[data-testid="alerts-waiting"]').exists()).toBe(true)
  })
})

describe('alerts panel: rules over HTTP', () => {
  let calls: FetchCall[]
  let setHandler: (h: (call: FetchCall) => Response | undefined) => void
  /** What GET /api/alerts answers. */
  let serverRules = [alertRule(), alertRule({ name: 'disk_low', kind: 'disk_free', threshold: 5e9, severity: 'critical' })]

  function mountPanel(): VueWrapper {
    const pinia = createPinia()
    setActivePinia(pinia)
    useAlertsStore().applyMessage(alertsMessage(serverRules, [alertState(), alertState({ name: 'disk_low', kind: 'disk_free', severity: 'critical', value: 1.2e11 })]))
    wrapper = mount(AlertsPanel, { global: { plugins: [pinia] }, props: { now: Date.now() } })
    return wrapper
  }

  function toasts(): [string, string][] {
    return useFeedbackStore().toasts.map(t => [t.kind, t.text])
  }

  beforeEach(() => {
    serverRules = [alertRule(), alertRule({ name: 'disk_low', kind: 'disk_free', threshold: 5e9, severity: 'critical' })]
    const fetch = stubFetch(call => (call.method === 'GET' && call.url === '/api/alerts' ? json({ rules: serverRules, alerts: [] }) : undefined))
    calls = fetch.calls
    setHandler = (h) => {
      fetch.setHandler(call => h(call) ?? (call.method === 'GET' && call.url === '/api/alerts' ? json({ rules: serverRules, alerts: [] }) : undefined))
    }
  })

  it('lists the rules with their state and condition in words', () => {
    const w = mountPanel()
    const rows = w.findAll('[data-testid="alert-rule"]')
    expect(rows.map(r => [r.attributes('data-name'), r.attributes('data-state'), r.attributes('data-enabled')]))
      .toEqual([['disk_low', 'inactive', 'true'], ['slow_training', 'inactive', 'true']])
    expect(rows[0]?.text()).toContain('free disk below 5.00 GB')
    expect(rows[0]?.text()).toContain('120 GB free')
    expect(rows[1]?.text()).toContain('env steps/s below 50 % of its recent median · for 1 min')
    expect(rows[1]?.get('[data-testid="alert-state"]').text()).toBe('inactive')
  })

  it('adds a rule with POST, bytes entered in GB, and shows it once acknowledged', async () => {
    const w = mountPanel()
    setHandler((call) => {
      if (call.method === 'POST') {
        serverRules = [...serverRules, call.body as never]
        return json({ ok: true }, 201)
      }
      return undefined
    })
    await w.get('[data-testid="alert-add"]').trigger('click')
    const form = w.get('[data-testid="alert-form"]')
    expect(form.attributes('data-mode')).toBe('add')
    await form.get('[data-testid="alert-form-name"]').setValue('disk_tight')
    await form.get('[data-testid="alert-form-kind"]').setValue('disk_free')
    expect(form.get('select[data-testid="alert-form-unit"]').element).toBeTruthy()
    await form.get('[data-testid="alert-form-threshold"]').setValue('2.5')
    expect(form.get('[data-testid="alert-form-readout"]').text()).toBe('= 2.50 GB')
    await form.get('[data-testid="alert-form-for"]').setValue('30')
    await form.get('[data-testid="alert-form-severity"]').setValue('critical')
    await form.trigger('submit')
    await settle()

    expect(calls.filter(c => c.method !== 'GET')).toEqual([{
      method: 'POST',
      url: '/api/alerts/rules',
      body: { name: 'disk_tight', kind: 'disk_free', threshold: 2.5e9, for_seconds: 30, severity: 'critical', enabled: true },
    }])
    expect(toasts()).toEqual([['ack', 'Alert rule \'disk_tight\' added']])
    expect(w.find('[data-testid="alert-form"]').exists()).toBe(false)
    // The page asked for the new picture rather than wait for the socket.
    expect(calls.at(-1)).toMatchObject({ method: 'GET', url: '/api/alerts' })
    expect(w.findAll('[data-testid="alert-rule"]').map(r => r.attributes('data-name'))).toContain('disk_tight')
  })

  it('shows the server\'s refusal in the form and as a toast, and keeps the form open', async () => {
    const w = mountPanel()
    setHandler(call => (call.method === 'POST'
      ? json({ ok: false, error: 'name: a rule named \'slow_training\' exists; choose another name or edit it' }, 409)
      : undefined))
    await w.get('[data-testid="alert-add"]').trigger('click')
    await w.get('[data-testid="alert-form-name"]').setValue('slow_training')
    await w.get('[data-testid="alert-form"]').trigger('submit')
    await settle()
    expect(w.get('[data-testid="alert-form-error"]').text()).toBe('name: a rule named \'slow_training\' exists; choose another name or edit it')
    expect(toasts()).toEqual([['error', 'Could not add alert rule \'slow_training\': name: a rule named \'slow_training\' exists; choose another name or edit it']])
    expect(w.find('[data-testid="alert-form"]').exists()).toBe(true)
  })

  it('shows FastAPI\'s validation detail too', async () => {
    const w = mountPanel()
    setHandler(call => (call.method === 'POST'
      ? json({ detail: [{ loc: ['body', 'for_seconds'], msg: 'Input should be less than or equal to 86400', type: 'less_than_equal' }] }, 422)
      : undefined))
    await w.get('[data-testid="alert-add"]').trigger('click')
    await w.get('[data-testid="alert-form-name"]').setValue('long_wait')
    await w.get('[data-testid="alert-form-for"]').setValue('999999')
    await w.get('[data-testid="alert-form"]').trigger('submit')
    await settle()
    expect(w.get('[data-testid="alert-form-error"]').text()).toBe('for_seconds: Input should be less than or equal to 86400')
  })

  it('checks the form before sending anything', async () => {
    const w = mountPanel()
    await w.get('[data-testid="alert-add"]').trigger('click')
    await w.get('[data-testid="alert-form"]').trigger('submit')
    expect(w.get('[data-testid="alert-form-error"]').text()).toBe('name: give the rule a name')
    await w.get('[data-testid="alert-form-name"]').setValue('gpu_full')
    await w.get('[data-testid="alert-form-kind"]').setValue('gpu_memory')
    await w.get('[data-testid="alert-form-threshold"]').setValue('95')
    await w.get('[data-testid="alert-form"]').trigger('submit')
    expect(w.get('[data-testid="alert-form-error"]').text()).toContain('a fraction between 0 and 1')
    await settle()
    expect(calls.filter(c => c.method !== 'GET')).toEqual([])
  })

  it('edits a rule with PUT to its own URL', async () => {
    serverRules = [alertRule({ name: 'stale ckpt', kind: 'checkpoint_stale', threshold: 900 })]
    const w = mountPanel()
    setHandler(call => (call.method === 'PUT' ? json({ ok: true }) : undefined))
    await w.get('[data-testid="alert-rule"][data-name="stale ckpt"] [data-testid="alert-edit"]').trigger('click')
    const form = w.get('[data-testid="alert-form"]')
    expect(form.attributes('data-mode')).toBe('edit')
    expect((form.get('[data-testid="alert-form-name"]').element as HTMLInputElement).readOnly).toBe(true)
    expect((form.get('[data-testid="alert-form-threshold"]').element as HTMLInputElement).value).toBe('900')
    expect(form.get('[data-testid="alert-form-unit"]').text()).toBe('s')
    await form.get('[data-testid="alert-form-threshold"]').setValue('1800')
    expect(form.get('[data-testid="alert-form-readout"]').text()).toBe('= 30 min')
    await form.trigger('submit')
    await settle()
    expect(calls.filter(c => c.method === 'PUT')).toEqual([{
      method: 'PUT',
      url: '/api/alerts/rules/stale%20ckpt',
      body: { name: 'stale ckpt', kind: 'checkpoint_stale', threshold: 1800, for_seconds: 60, severity: 'warning', enabled: true },
    }])
    expect(toasts()).toEqual([['ack', 'Alert rule \'stale ckpt\' saved']])
  })

  it('disables and enables with PUT, the button waiting for the answer', async () => {
    const w = mountPanel()
    let answer: (r: Response) => void = () => {}
    vi.mocked(fetch).mockImplementationOnce((_input, init) => {
      calls.push({ method: init?.method ?? 'GET', url: String(_input), body: JSON.parse(String(init?.body)) })
      return new Promise<Response>((resolve) => { answer = resolve })
    })
    const toggle = () => w.get('[data-testid="alert-rule"][data-name="slow_training"] [data-testid="alert-toggle"]')
    expect(toggle().text()).toBe('Disable')
    await toggle().trigger('click')
    await nextTick()
    expect(calls.at(-1)).toEqual({ method: 'PUT', url: '/api/alerts/rules/slow_training', body: { ...alertRule(), enabled: false } })
    expect(toggle().attributes('disabled')).toBeDefined()
    // The server also tells every viewer on the socket; it may well come first.
    serverRules = [alertRule({ enabled: false }), serverRules[1]!]
    answer(json({ rules: serverRules, alerts: [] }))
    await settle()
    expect(toggle().attributes('disabled')).toBeUndefined()
    expect(toggle().text()).toBe('Enable')
    expect(w.get('[data-testid="alert-rule"][data-name="slow_training"]').attributes('data-enabled')).toBe('false')
    expect(toasts()).toEqual([['ack', 'Alert rule \'slow_training\' disabled']])
  })

  it('deletes after a second click, and forgets the first click after a while', async () => {
    const w = mountPanel()
    setHandler((call) => {
      if (call.method === 'DELETE') {
        serverRules = serverRules.filter(r => r.name !== 'disk_low')
        return json({ ok: true })
      }
      return undefined
    })
    const del = () => w.get('[data-testid="alert-rule"][data-name="disk_low"] [data-testid="alert-delete"]')
    await del().trigger('click')
    expect(del().attributes('data-confirm')).toBe('true')
    await vi.advanceTimersByTimeAsync(5000)
    expect(del().attributes('data-confirm')).toBe('false')
    await del().trigger('click')
    await del().trigger('click')
    await settle()
    expect(calls.filter(c => c.method === 'DELETE')).toEqual([{ method: 'DELETE', url: '/api/alerts/rules/disk_low', body: undefined }])
    expect(w.findAll('[data-testid="alert-rule"]').map(r => r.attributes('data-name'))).toEqual(['slow_training'])
    expect(toasts()).toEqual([['ack', 'Alert rule \'disk_low\' deleted']])
  })

  it('says when the server cannot be reached, or answers with something else', async () => {
    const w = mountPanel()
    vi.mocked(fetch).mockRejectedValueOnce(new TypeError('Failed to fetch'))
    await w.get('[data-testid="alert-rule"][data-name="disk_low"] [data-testid="alert-toggle"]').trigger('click')
    await settle()
    expect(toasts()).toEqual([['error', 'Could not disable alert rule \'disk_low\': could not reach the live server (Failed to fetch)']])
    setHandler(call => (call.method === 'PUT' ? new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' }) : undefined))
    await w.get('[data-testid="alert-rule"][data-name="disk_low"] [data-testid="alert-toggle"]').trigger('click')
    await settle()
    expect(toasts().at(-1)).toEqual(['error', 'Could not disable alert rule \'disk_low\': HTTP 502 Bad Gateway'])
  })

  it('never lets an HTTP answer overwrite a newer socket message', async () => {
    const w = mountPanel()
    let answer: (r: Response) => void = () => {}
    setHandler(call => (call.method === 'PUT' ? json({ ok: true }) : undefined))
    await w.get('[data-testid="alert-rule"][data-name="slow_training"] [data-testid="alert-toggle"]').trigger('click')
    // The follow-up GET is slow; meanwhile the socket brings a newer picture.
    vi.mocked(fetch).mockImplementationOnce(() => new Promise<Response>((resolve) => { answer = resolve }))
    await settle()
    useAlertsStore().applyMessage(alertsMessage([alertRule({ enabled: false })], [alertState({ state: 'pending' })]))
    answer(json({ rules: [alertRule()], alerts: [] }))
    await settle()
    const row = w.get('[data-testid="alert-rule"]')
    expect([row.attributes('data-enabled'), row.attributes('data-state')]).toEqual(['false', 'pending'])
  })
})
