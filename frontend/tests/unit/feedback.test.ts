import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ACK_TOAST_MS, ERROR_TOAST_MS, PENDING_TIMEOUT_MS, useFeedbackStore } from '../../src/stores/feedback'

describe('feedback store', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    setActivePinia(createPinia())
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('an ack settles its pending request and shows a brief toast', () => {
    const feedback = useFeedbackStore()
    feedback.sent('pause_play')
    expect(feedback.isPending('pause_play')).toBe(true)
    feedback.ack({ type: 'ack', request: 'pause_play', message: 'live play paused' })
    expect(feedback.isPending('pause_play')).toBe(false)
    expect(feedback.toasts).toEqual([{ id: expect.any(Number), kind: 'ack', text: 'live play paused', request: 'pause_play' }])
    vi.advanceTimersByTime(ACK_TOAST_MS)
    expect(feedback.toasts).toEqual([])
  })

  it('an error shows the reason for longer', () => {
    const feedback = useFeedbackStore()
    feedback.sent('step_play')
    feedback.error({ type: 'error', request: 'step_play', message: 'live play is running: pause it first to step it' })
    expect(feedback.isPending('step_play')).toBe(false)
    expect(feedback.toasts[0]?.text).toBe('Refused: step: live play is running: pause it first to step it')
    vi.advanceTimersByTime(ACK_TOAST_MS)
    expect(feedback.toasts).toHaveLength(1)
    vi.advanceTimersByTime(ERROR_TOAST_MS)
    expect(feedback.toasts).toHaveLength(0)
  })

  it('a request with no answer stops being pending; too many toasts drop the oldest', () => {
    const feedback = useFeedbackStore()
    feedback.sent('start_compare')
    vi.advanceTimersByTime(PENDING_TIMEOUT_MS)
    expect(feedback.isPending('start_compare')).toBe(false)
    for (let i = 0; i < 6; i++)
      feedback.push('ack', `n${i}`)
    expect(feedback.toasts.map(t => t.text)).toEqual(['n2', 'n3', 'n4', 'n5'])
    feedback.error({ type: 'error', request: null, message: 'not valid JSON' })
    expect(feedback.toasts.at(-1)?.text).toBe('The server refused a message: not valid JSON')
  })
})
