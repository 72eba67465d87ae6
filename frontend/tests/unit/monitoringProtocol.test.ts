import { describe, expect, it, vi } from 'vitest'
import {
  alertRuleBody,
  parseServerMessage,
  refusalReason,
  validateAlertsSnapshot,
  validateServerMessage,
  validateSystemSnapshot,
} from '../../src/protocol'
import { alertRule, alertsMessage, alertState, gpuSample, systemSample, systemSamples } from './fixtures'

function roundTrip(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value))
}

function expectMalformed(data: unknown, fragment: string): void {
  const result = validateServerMessage(roundTrip(data))
  expect(result.kind).toBe('malformed')
  if (result.kind === 'malformed')
    expect(result.error).toContain(fragment)
}

describe('monitoring messages: valid', () => {
  it.each([
    ['alerts', alertsMessage()],
    ['alerts, none', alertsMessage([], [])],
    ['alerts, every kind and state', alertsMessage(
      [
        alertRule({ name: 'nan', kind: 'nan_loss', threshold: 0, for_seconds: 0, severity: 'critical' }),
        alertRule({ name: 'stale', kind: 'checkpoint_stale', threshold: 900, severity: 'info', enabled: false }),
        alertRule({ name: 'greedy', kind: 'greedy_drop', threshold: 0.3 }),
        alertRule({ name: 'gpu', kind: 'gpu_memory', threshold: 0.9 }),
        alertRule({ name: 'disk', kind: 'disk_free', threshold: 5e9 }),
      ],
      [
        alertState({ name: 'nan', kind: 'nan_loss', severity: 'critical', state: 'firing', since: '2025-10-09T14:03:22.512345+00:00', value: null, message: 'TD loss is nan' }),
        alertState({ name: 'stale', kind: 'checkpoint_stale', severity: 'info', state: 'pending', since: '2025-10-09T14:03:22Z', value: 1000 }),
        alertState({ name: 'greedy', kind: 'greedy_drop', state: 'resolved', since: '2025-10-09T14:03:22' }),
        alertState({ name: 'gpu', kind: 'gpu_memory', value: 0.42 }),
        alertState({ name: 'disk', kind: 'disk_free', value: 1.2e11 }),
      ],
    )],
    ['system', { type: 'system', sample: systemSample() }],
    ['system without a GPU', { type: 'system', sample: systemSample({ gpus: [] }) }],
    ['system, GPU without temperature or power', { type: 'system', sample: systemSample({ gpus: [gpuSample({ temperature_c: null, power_watts: null }), gpuSample({ index: 1 })] }) }],
    ['system_history', { type: 'system_history', samples: systemSamples(5) }],
    ['system_history, empty', { type: 'system_history', samples: [] }],
  ])('%s', (_name, message) => {
    const data = roundTrip(message)
    const result = validateServerMessage(data)
    expect(result.kind === 'malformed' ? result.error : result.kind).toBe('message')
    // Nothing lost or renamed: what the contract test checks against the real server.
    expect(parseServerMessage(JSON.stringify(data))).toStrictEqual(data)
  })
})

describe('monitoring messages: malformed, with the field named', () => {
  it.each([
    ['an unknown kind', alertsMessage([alertRule({ kind: 'cpu_hot' as never })], []), 'rules[0].kind'],
    ['an unknown severity', alertsMessage([], [alertState({ severity: 'fatal' as never })]), 'alerts[0].severity'],
    ['an unknown state', alertsMessage([], [alertState({ state: 'on' as never })]), 'alerts[0].state'],
    ['since that is no date', alertsMessage([], [alertState({ since: 'yesterday' })]), 'alerts[0].since: expected ISO-8601'],
    ['since as a number', alertsMessage([], [alertState({ since: 1760000000 as never })]), 'alerts[0].since'],
    ['a value as a string', alertsMessage([], [alertState({ value: '3' as never })]), 'alerts[0].value: expected finite number'],
    ['a negative duration', alertsMessage([alertRule({ for_seconds: -1 })], []), 'rules[0].for_seconds'],
    ['an empty rule name', alertsMessage([alertRule({ name: '' })], []), 'rules[0].name'],
    ['enabled as a string', alertsMessage([alertRule({ enabled: 'yes' as never })], []), 'rules[0].enabled: expected boolean'],
    ['two rules of one name', alertsMessage([alertRule(), alertRule()], []), 'rules[1].name: \'slow_training\' appears twice'],
    ['no alerts list', { type: 'alerts', rules: [] }, 'alerts: expected array'],
    ['a sample without t', { type: 'system', sample: { ...systemSample(), t: undefined } }, 'sample.t'],
    ['negative CPU', { type: 'system', sample: systemSample({ cpu_percent: -3 }) }, 'sample.cpu_percent'],
    ['fractional bytes', { type: 'system', sample: systemSample({ memory_bytes: 1.5 }) }, 'sample.memory_bytes: expected integer'],
    ['gpus not a list', { type: 'system', sample: { ...systemSample(), gpus: null } }, 'sample.gpus: expected array'],
    ['a GPU without a name', { type: 'system', sample: systemSample({ gpus: [{ ...gpuSample(), name: 7 as never }] }) }, 'sample.gpus[0].name'],
    ['a GPU temperature as text', { type: 'system', sample: systemSample({ gpus: [gpuSample({ temperature_c: 'hot' as never })] }) }, 'sample.gpus[0].temperature_c'],
    ['a history sample that is not an object', { type: 'system_history', samples: [systemSample(), 3] }, 'samples[1]: expected object'],
  ])('%s', (_name, data, fragment) => {
    expectMalformed(data, fragment)
  })

  it('names the message type, as for the other messages', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    expect(parseServerMessage(JSON.stringify({ type: 'system', sample: null }))).toBeNull()
    expect(warn).toHaveBeenCalledWith('[townlet] dropped a malformed message: system: sample: expected object, got null')
  })
})

describe('monitoring over HTTP', () => {
  it('checks GET /api/alerts like the socket message', () => {
    const body = roundTrip({ rules: [alertRule()], alerts: [alertState()] })
    expect(validateAlertsSnapshot(body)).toEqual({ ok: true, value: body })
    expect(validateAlertsSnapshot({ rules: [alertRule({ threshold: 'x' as never })], alerts: [] }))
      .toEqual({ ok: false, error: 'GET /api/alerts: rules[0].threshold: expected finite number, got string' })
    expect(validateAlertsSnapshot('<html>')).toEqual({ ok: false, error: 'GET /api/alerts: the answer is not a JSON object' })
  })

  it('checks GET /api/system and keeps its GPU note', () => {
    const body = roundTrip({ samples: systemSamples(2, { gpus: [] }), gpu_note: 'no NVIDIA GPU found' })
    expect(validateSystemSnapshot(body)).toEqual({ ok: true, value: body })
    expect(validateSystemSnapshot({ samples: [], gpu_note: null })).toEqual({ ok: true, value: { samples: [], gpu_note: null } })
    const missing = validateSystemSnapshot({ samples: [] })
    expect(missing.ok).toBe(false)
    if (!missing.ok)
      expect(missing.error).toContain('gpu_note')
  })

  it('sends exactly a rule\'s fields', () => {
    const extra = { ...alertRule(), state: 'firing', seen: 3 }
    expect(alertRuleBody(extra)).toStrictEqual(alertRule())
  })

  it('reads the refusal reason from our body or FastAPI\'s', () => {
    expect(refusalReason({ ok: false, error: 'threshold: must be between 0 and 1 for throughput_drop; give e.g. 0.5' }))
      .toBe('threshold: must be between 0 and 1 for throughput_drop; give e.g. 0.5')
    expect(refusalReason({ detail: 'Not Found' })).toBe('Not Found')
    expect(refusalReason({ detail: [
      { loc: ['body', 'threshold'], msg: 'Input should be a valid number', type: 'float_parsing' },
      { loc: ['body', 'kind'], msg: 'Input should be \'nan_loss\' or ...', type: 'enum' },
    ] })).toBe('threshold: Input should be a valid number; kind: Input should be \'nan_loss\' or ...')
    expect(refusalReason({ ok: false })).toBeNull()
    expect(refusalReason('oops')).toBeNull()
  })
})
