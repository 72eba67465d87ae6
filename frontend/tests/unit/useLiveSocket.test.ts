import type { EffectScope } from 'vue'
import type { LiveSocket } from '../../src/composables/useLiveSocket'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'
import { backoffDelay, liveSocketUrl, useLiveSocket } from '../../src/composables/useLiveSocket'
import { FOLLOW_CLOSE_CODE } from '../../src/protocol'
import { FakeWebSocket } from './fakeWebSocket'

const URL = 'ws://example.test/ws'

let scope: EffectScope
let received: unknown[]

function start(): LiveSocket {
  scope = effectScope()
  const socket = scope.run(() => useLiveSocket(URL, { onMessage: data => received.push(data) }))
  if (!socket)
    throw new Error('scope did not run')
  return socket
}

beforeEach(() => {
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', FakeWebSocket)
  FakeWebSocket.reset()
  received = []
})

afterEach(() => {
  scope?.stop()
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('useLiveSocket', () => {
  it('connects at once and reports connecting, then open', () => {
    const socket = start()
    expect(FakeWebSocket.instances).toHaveLength(1)
    expect(FakeWebSocket.latest().url).toBe(URL)
    expect(socket.status.value).toBe('connecting')
    expect(socket.everOpened.value).toBe(false)
    FakeWebSocket.latest().serverOpen()
    expect(socket.status.value).toBe('open')
    expect(socket.everOpened.value).toBe(true)
  })

  it('hands decoded JSON to the callback and counts frames that are not JSON', () => {
    const socket = start()
    const ws = FakeWebSocket.latest()
    ws.serverOpen()
    ws.serverSend({ type: 'hello', n: 1 })
    ws.serverSend('{not json')
    ws.serverSend('[1,2]')
    expect(received).toEqual([{ type: 'hello', n: 1 }, [1, 2]])
    expect(socket.badFrames.value).toBe(1)
    expect(socket.lastMessageAt.value).not.toBeNull()
  })

  it('sends JSON only while open', () => {
    const socket = start()
    const ws = FakeWebSocket.latest()
    expect(socket.send({ type: 'set_speed', steps_per_second: 2 })).toBe(false)
    ws.serverOpen()
    expect(socket.send({ type: 'set_speed', steps_per_second: 2 })).toBe(true)
    expect(ws.sent.map(s => JSON.parse(s) as unknown)).toEqual([{ type: 'set_speed', steps_per_second: 2 }])
  })

  it('follows the server to another trial at once when it closes with the follow code', () => {
    const socket = start()
    FakeWebSocket.latest().serverOpen()
    FakeWebSocket.latest().drop() // a drop first: the backoff has begun
    vi.advanceTimersByTime(500)
    FakeWebSocket.latest().serverOpen()
    FakeWebSocket.latest().serverClose(FOLLOW_CLOSE_CODE, 'following trial run0aa')
    // No backoff, no retry counted: a new socket straight away, saying why.
    expect(FakeWebSocket.instances).toHaveLength(3)
    expect(socket.status.value).toBe('connecting')
    expect(socket.switching.value).toBe(true)
    expect(socket.retries.value).toBe(0)
    expect(socket.nextRetryAt.value).toBeNull()
    FakeWebSocket.latest().serverOpen()
    expect(socket.status.value).toBe('open')
    expect(socket.switching.value).toBe(false)
    // A drop while switching is an ordinary drop.
    FakeWebSocket.latest().serverClose(FOLLOW_CLOSE_CODE)
    FakeWebSocket.latest().drop()
    expect(socket.switching.value).toBe(false)
    expect(socket.status.value).toBe('closed')
    expect(socket.nextRetryAt.value).toBe(Date.now() + 500)
  })

  it('reconnects after a drop with doubling delays capped at 8 s', () => {
    const socket = start()
    FakeWebSocket.latest().serverOpen()
    const expected = [500, 1000, 2000, 4000, 8000, 8000]
    for (const [i, delay] of expected.entries()) {
      FakeWebSocket.latest().drop()
      expect(socket.status.value).toBe('closed')
      expect(socket.nextRetryAt.value).toBe(Date.now() + delay)
      vi.advanceTimersByTime(delay - 1)
      expect(FakeWebSocket.instances).toHaveLength(i + 1)
      vi.advanceTimersByTime(1)
      expect(FakeWebSocket.instances).toHaveLength(i + 2)
      expect(socket.status.value).toBe('connecting')
      expect(socket.nextRetryAt.value).toBeNull()
    }
  })

  it('resets the backoff after a successful open', () => {
    const socket = start()
    FakeWebSocket.latest().drop()
    vi.advanceTimersByTime(500)
    FakeWebSocket.latest().drop()
    vi.advanceTimersByTime(1000)
    expect(socket.retries.value).toBe(2)
    FakeWebSocket.latest().serverOpen()
    expect(socket.retries.value).toBe(0)
    FakeWebSocket.latest().drop()
    expect(socket.nextRetryAt.value).toBe(Date.now() + 500)
  })

  it('does not reconnect after an explicit close', () => {
    const socket = start()
    const ws = FakeWebSocket.latest()
    ws.serverOpen()
    socket.close()
    expect(ws.closeCalls).toEqual([{ code: 1000, reason: undefined }])
    expect(socket.status.value).toBe('closed')
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(1)
    expect(socket.status.value).toBe('closed')
    expect(socket.nextRetryAt.value).toBeNull()
  })

  it('an explicit close cancels a pending retry', () => {
    const socket = start()
    FakeWebSocket.latest().drop()
    expect(socket.nextRetryAt.value).not.toBeNull()
    socket.close()
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(1)
  })

  it('open() after an explicit close connects again', () => {
    const socket = start()
    socket.close()
    socket.open()
    expect(FakeWebSocket.instances).toHaveLength(2)
    FakeWebSocket.latest().serverOpen()
    expect(socket.status.value).toBe('open')
  })

  it('ignores late events from a socket it has replaced', () => {
    const socket = start()
    const first = FakeWebSocket.latest()
    socket.open()
    const second = FakeWebSocket.latest()
    expect(second).not.toBe(first)
    first.serverOpen()
    first.serverSend({ type: 'stale' })
    first.drop()
    expect(socket.status.value).toBe('connecting')
    expect(received).toEqual([])
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(2)
  })

  it('closes the socket and stops retrying when its scope is disposed', () => {
    const socket = start()
    const ws = FakeWebSocket.latest()
    ws.serverOpen()
    scope.stop()
    expect(ws.closeCalls).toHaveLength(1)
    expect(socket.status.value).toBe('closed')
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(1)
  })

  it('treats a constructor failure as a drop and retries', () => {
    class Refusing extends FakeWebSocket {
      constructor(url: string) {
        super(url)
        throw new SyntaxError('bad url')
      }
    }
    vi.stubGlobal('WebSocket', Refusing)
    const socket = start()
    expect(socket.status.value).toBe('closed')
    expect(socket.nextRetryAt.value).toBe(Date.now() + 500)
  })
})

describe('helpers', () => {
  it('backoffDelay doubles from 0.5 s and caps at 8 s', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map(n => backoffDelay(n))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000])
  })

  it('liveSocketUrl is same-origin and follows the page scheme', () => {
    expect(liveSocketUrl({ protocol: 'http:', host: 'localhost:5173' })).toBe('ws://localhost:5173/ws')
    expect(liveSocketUrl({ protocol: 'https:', host: 'town.example' })).toBe('wss://town.example/ws')
  })
})
