import type { ConnectionFacts } from '../../src/composables/connectionView'
import { describe, expect, it } from 'vitest'
import { connectionView, QUIET_AFTER_MS } from '../../src/composables/connectionView'

const NOW = 1_000_000

function facts(over: Partial<ConnectionFacts>): ConnectionFacts {
  return { status: 'open', everOpened: true, nextRetryAt: null, retries: 0, lastMessageAt: NOW - 100, now: NOW, ...over }
}

describe('connectionView', () => {
  it('says live only while open and data is flowing', () => {
    expect(connectionView(facts({})).tone).toBe('live')
    const quiet = connectionView(facts({ lastMessageAt: NOW - QUIET_AFTER_MS - 1 }))
    expect(quiet.tone).toBe('quiet')
    expect(quiet.detail).toContain('nothing received')
  })

  it('a move to another trial of the sweep is a switch, not a lost connection', () => {
    const v = connectionView(facts({ status: 'connecting', everOpened: true, switching: true }))
    expect(v).toMatchObject({ tone: 'connecting', label: 'switching trial…', stale: false })
    expect(connectionView(facts({ switching: true })).tone).toBe('live')
  })

  it('distinguishes first connect from reconnect', () => {
    expect(connectionView(facts({ status: 'connecting', everOpened: false })).label).toBe('connecting…')
    expect(connectionView(facts({ status: 'connecting', everOpened: true, retries: 1 })).label).toBe('reconnecting…')
  })

  it('after a drop says reconnecting with the wait, and marks what is shown as stale', () => {
    const v = connectionView(facts({ status: 'closed', nextRetryAt: NOW + 2000, retries: 2 }))
    expect(v.tone).toBe('reconnecting')
    expect(v.detail).toContain('2 s')
    expect(v.stale).toBe(true)
  })

  it('says disconnected once retries keep failing, or after an explicit close', () => {
    expect(connectionView(facts({ status: 'closed', nextRetryAt: NOW + 8000, retries: 6 })).tone).toBe('disconnected')
    const closed = connectionView(facts({ status: 'closed', nextRetryAt: null }))
    expect(closed.tone).toBe('disconnected')
    expect(closed.stale).toBe(true)
  })

  it('is never stale before anything was received', () => {
    expect(connectionView(facts({ status: 'closed', everOpened: false, nextRetryAt: NOW + 500, retries: 1 })).stale).toBe(false)
  })
})
