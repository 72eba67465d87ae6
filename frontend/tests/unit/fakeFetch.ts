import { vi } from 'vitest'

/**
 * A stand-in for `fetch` that records every request and answers from a handler the test
 * sets (by method and URL). Unhandled requests answer 404, as a server without the route would.
 */
export interface FetchCall {
  method: string
  url: string
  body: unknown
}

export type FetchHandler = (call: FetchCall) => Response | Promise<Response> | undefined

export function json(data: unknown, status = 200): Response {
  return new Response(JSON.stringify(data), { status, headers: { 'Content-Type': 'application/json' } })
}

export function stubFetch(handler: FetchHandler = () => undefined): { calls: FetchCall[], setHandler: (h: FetchHandler) => void } {
  const calls: FetchCall[] = []
  let current = handler
  vi.stubGlobal('fetch', vi.fn(async (input: string, init?: RequestInit) => {
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) as unknown : undefined
    const call = { method: init?.method ?? 'GET', url: String(input), body }
    calls.push(call)
    return (await current(call)) ?? new Response('Not Found', { status: 404 })
  }))
  return { calls, setHandler: (h) => { current = h } }
}
