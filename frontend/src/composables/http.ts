import { refusalReason } from '../protocol'

/**
 * Same-origin JSON requests to the live server's HTTP API (Vite proxies /api), with a time
 * limit, and the server's refusal reason when it says no. Never throws.
 */

export const HTTP_TIMEOUT_MS = 5000

export type HttpResult =
  | { ok: true, status: number, data: unknown }
  | { ok: false, status: number | null, error: string }

export async function requestJson(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, timeoutMs = HTTP_TIMEOUT_MS): Promise<HttpResult> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (body !== undefined)
      headers['Content-Type'] = 'application/json'
    const res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: controller.signal,
    })
    const text = await res.text()
    let data: unknown = null
    let json = text.length === 0
    if (text.length) {
      try {
        data = JSON.parse(text)
        json = true
      }
      catch {}
    }
    if (res.ok) {
      return json
        ? { ok: true, status: res.status, data }
        : { ok: false, status: res.status, error: `${method} ${url}: the answer is not JSON (is this the live server?)` }
    }
    const reason = refusalReason(data)
    return { ok: false, status: res.status, error: reason ?? `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` }
  }
  catch (err) {
    const aborted = controller.signal.aborted
    return {
      ok: false,
      status: null,
      error: aborted
        ? `no answer from the live server within ${Math.round(timeoutMs / 1000)} s`
        : `could not reach the live server (${err instanceof Error ? err.message : String(err)})`,
    }
  }
  finally {
    clearTimeout(timer)
  }
}
