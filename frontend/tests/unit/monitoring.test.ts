import { describe, expect, it } from 'vitest'
import {
  describeCondition,
  describeFor,
  firingAlerts,
  formatAlertValue,
  formatBytes,
  formatPercent,
  formatSeconds,
  mergeSamples,
  sparkPaths,
  thresholdFromInput,
  thresholdReadout,
  thresholdToInput,
} from '../../src/monitoring'
import { alertState, systemSample, systemSamples } from './fixtures'

describe('monitoring words', () => {
  it('writes bytes, fractions and durations', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(340e6)).toBe('340 MB')
    expect(formatBytes(12.4e9)).toBe('12.4 GB')
    expect(formatBytes(5e9)).toBe('5.00 GB')
    expect(formatBytes(1.2e12)).toBe('1.20 TB')
    expect(formatPercent(0.5)).toBe('50 %')
    expect(formatPercent(0.125)).toBe('12.5 %')
    expect(formatSeconds(0)).toBe('0 s')
    expect(formatSeconds(45)).toBe('45 s')
    expect(formatSeconds(600)).toBe('10 min')
    expect(formatSeconds(90)).toBe('1 min 30 s')
    expect(formatSeconds(5400)).toBe('1 h 30 min')
  })

  it('says each kind\'s condition in its own unit', () => {
    expect(describeCondition('nan_loss', 0)).toBe('TD loss is NaN or infinite')
    expect(describeCondition('throughput_drop', 0.5)).toBe('env steps/s below 50 % of its recent median')
    expect(describeCondition('checkpoint_stale', 900)).toBe('no checkpoint for 15 min')
    expect(describeCondition('greedy_drop', 0.3)).toBe('greedy survival below 70 % of the run\'s best')
    expect(describeCondition('gpu_memory', 0.9)).toBe('GPU memory above 90 % used')
    expect(describeCondition('disk_free', 5e9)).toBe('free disk below 5.00 GB')
    expect(describeFor(0)).toBe('fires at once')
    expect(describeFor(120)).toBe('for 2 min')
    expect(formatAlertValue('nan_loss', null)).toBe('not finite')
    expect(formatAlertValue('gpu_memory', 0.42)).toBe('42 % used')
    expect(formatAlertValue('disk_free', 1.2e11)).toBe('120 GB free')
  })

  it('reads the threshold input in the kind\'s unit, bytes as MB or GB', () => {
    expect(thresholdToInput('disk_free', 5e9)).toEqual({ text: '5', byteUnit: 'GB' })
    expect(thresholdToInput('disk_free', 500e6)).toEqual({ text: '500', byteUnit: 'MB' })
    expect(thresholdToInput('throughput_drop', 0.5)).toEqual({ text: '0.5', byteUnit: 'GB' })
    expect(thresholdFromInput('disk_free', { text: '2.5', byteUnit: 'GB' })).toEqual({ ok: true, value: 2.5e9 })
    expect(thresholdFromInput('disk_free', { text: '750', byteUnit: 'MB' })).toEqual({ ok: true, value: 750e6 })
    expect(thresholdFromInput('checkpoint_stale', { text: '600', byteUnit: 'GB' })).toEqual({ ok: true, value: 600 })
    expect(thresholdFromInput('gpu_memory', { text: '90', byteUnit: 'GB' }))
      .toEqual({ ok: false, error: 'threshold: a fraction between 0 and 1 (e.g. 0.90 for 90 %)' })
    expect(thresholdFromInput('gpu_memory', { text: '', byteUnit: 'GB' })).toEqual({ ok: false, error: 'threshold: enter a number between 0 and 1' })
    expect(thresholdFromInput('nan_loss', { text: '', byteUnit: 'GB' })).toEqual({ ok: true, value: 0 })
    expect(thresholdReadout('checkpoint_stale', { text: '600', byteUnit: 'GB' })).toBe('= 10 min')
    expect(thresholdReadout('greedy_drop', { text: '0.3', byteUnit: 'GB' })).toBe('fires below 70 % of best')
    expect(thresholdReadout('disk_free', { text: '750', byteUnit: 'MB' })).toBe('= 750 MB')
  })

  it('lists firing alerts most severe first, then the oldest', () => {
    const list = firingAlerts([
      alertState({ name: 'a', state: 'firing', severity: 'info', since: '2025-10-09T10:00:00Z' }),
      alertState({ name: 'b', state: 'pending', severity: 'critical' }),
      alertState({ name: 'c', state: 'firing', severity: 'warning', since: '2025-10-09T12:00:00Z' }),
      alertState({ name: 'd', state: 'firing', severity: 'warning', since: '2025-10-09T11:00:00Z' }),
      alertState({ name: 'e', state: 'firing', severity: 'critical', since: '2025-10-09T13:00:00Z' }),
      alertState({ name: 'f', state: 'resolved', severity: 'critical' }),
    ])
    expect(list.map(a => a.name)).toEqual(['e', 'd', 'c', 'a'])
  })
})

describe('system samples', () => {
  it('appends live samples after the history, one per time, capped', () => {
    const history = systemSamples(3, {}, 100)
    expect(mergeSamples(history, [systemSample({ t: 102 })]).map(s => s.t)).toEqual([96, 98, 100, 102])
    // A repeat (e.g. the history and GET /api/system overlapping) replaces, never duplicates.
    const merged = mergeSamples(history, [systemSample({ t: 98, cpu_percent: 5 }), systemSample({ t: 97 })])
    expect(merged.map(s => s.t)).toEqual([96, 97, 98, 100])
    expect(merged[2]?.cpu_percent).toBe(5)
    expect(mergeSamples(history, [systemSample({ t: 102 })], 2).map(s => s.t)).toEqual([100, 102])
  })

  it('draws sparklines with gaps where a value is missing', () => {
    const p = sparkPaths([0, 1, 2, 3, 4], [0, 50, null, 100, 100], { width: 100, height: 20, min: 0, max: 100 })
    expect(p.points).toBe(4)
    expect(p.line).toBe('M0,18.5L25,10M75,1.5L100,1.5')
    expect(p.last).toEqual({ x: 100, y: 1.5 })
    expect(p.area.startsWith('M0,20L0,18.5L25,10L25,20Z')).toBe(true)
    expect(sparkPaths([], [], { width: 100, height: 20 })).toEqual({ line: '', area: '', last: null, points: 0 })
    const many = Array.from({ length: 1000 }, (_, i) => i)
    const thinned = sparkPaths(many, many, { width: 100, height: 20, maxPoints: 100 })
    expect(thinned.points).toBe(101)
    expect(thinned.last?.x).toBe(100)
  })
})
